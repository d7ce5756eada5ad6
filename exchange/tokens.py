"""API tokens with a lifetime: issued (and rotated) at each sign-in, refused once expired, revocable.

A token is DRF's ``authtoken`` row (one per user). Signing in through ``POST /api/v1/auth/token``
replaces the user's token with a new one, so the token's ``created`` time is when it was issued;
``Authorization: Token …`` is refused with ``token_expired`` once ``API_TOKEN_LIFETIME`` seconds have
passed since then. ``POST /api/v1/auth/logout`` deletes it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework import exceptions as drf_exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from exchange.audit import audit_record


class TokenExpiredError(drf_exceptions.AuthenticationFailed):
    """The token was valid once; its lifetime is over (answered 401 with code ``token_expired``)."""

    default_detail = "The token has expired. Ask for a new one with POST /api/v1/auth/token."
    default_code = "token_expired"


def token_lifetime() -> dt.timedelta:
    return dt.timedelta(seconds=int(settings.API_TOKEN_LIFETIME))


def token_expires_at(token: Token) -> dt.datetime:
    return token.created + token_lifetime()


def token_is_expired(token: Token, *, now: dt.datetime | None = None) -> bool:
    return (now or timezone.now()) >= token_expires_at(token)


class ExpiringTokenAuthentication(TokenAuthentication):
    """``Authorization: Token <key>`` for tokens within their lifetime."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        user, token = super().authenticate_credentials(key)
        if token_is_expired(token):
            raise TokenExpiredError()
        return user, token


@transaction.atomic
def token_issue(*, user: Any, ip: str = "") -> Token:
    """A new token for ``user``, replacing (and so revoking) any earlier one. Audited as ``auth.token``."""
    Token.objects.filter(user=user).delete()
    token = Token.objects.create(user=user)
    audit_record(action="auth.token", actor=user, object_type="user", object_id=user.pk, ip=ip,
                 data={"expires_at": token_expires_at(token).isoformat()})
    return token


@transaction.atomic
def token_revoke(*, user: Any, ip: str = "") -> bool:
    """Delete ``user``'s token; whether there was one. Audited as ``auth.token_revoked``."""
    deleted, _ = Token.objects.filter(user=user).delete()
    audit_record(action="auth.token_revoked", actor=user, object_type="user", object_id=user.pk, ip=ip,
                 data={"revoked": bool(deleted)})
    return bool(deleted)
