"""Account APIs: token sign-in (rotating the token), sign-out (revoking it) and the current user."""

from __future__ import annotations

from django.contrib.auth import authenticate, user_logged_in
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import permissions, serializers
from rest_framework.response import Response

from exchange.api import ExchangeAPIView
from exchange.clientip import client_ip as _client_ip
from exchange.errors import NotAuthenticatedError
from exchange.login import LoginRateThrottle, is_locked_out, lockout_error
from exchange.openapi import error_response
from exchange.roles import user_roles
from exchange.tokens import token_expires_at, token_issue, token_revoke


def client_ip(request) -> str:
    """The client address of a Django or DRF request (see ``exchange.clientip``)."""
    return _client_ip(getattr(request, "_request", request))


TOKEN_EXPIRED_EXAMPLE = ("token_expired", "The token has expired. Ask for a new one with POST /api/v1/auth/token.",
                         None)


class AuthTokenApi(ExchangeAPIView):
    """Exchange a username and password for a new API token (any earlier token of the user stops working).
    Rate-limited per client address; a username is locked out at an address after repeated failures.
    Permission: anyone."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []
    throttle_classes = [LoginRateThrottle]
    throttle_scope = "login"

    class InputSerializer(serializers.Serializer):
        # No account has a longer username (the column is 150); refused before any lookup or record.
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=4096, style={"input_type": "password"})

    body_fields = {"post": InputSerializer}

    @extend_schema(
        request=InputSerializer,
        responses={
            200: inline_serializer("Token", {
                "token": serializers.CharField(),
                "expires_at": serializers.DateTimeField(help_text="After this the token is refused (token_expired)."),
            }),
            400: error_response("Username or password missing.",
                                ("invalid_input", "The request is not valid.", {"password": ["This field is required."]})),
            401: error_response("Wrong username or password.",
                                ("not_authenticated", "Wrong username or password.", None)),
            429: error_response(
                "Too many attempts (header Retry-After: seconds to wait).",
                ("too_many_attempts", "Too many failed sign-in attempts for this account from this address. "
                 "Try again later.", {"retry_after": 840}),
                ("throttled", "Request was throttled. Expected available in 42 seconds.", None)),
        },
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # The Django request: axes marks it when it refuses a locked-out username, and its middleware reads it.
        http_request = request._request
        user = authenticate(http_request, username=data.validated_data["username"],
                            password=data.validated_data["password"])
        if is_locked_out(http_request):
            raise lockout_error(http_request, {"username": data.validated_data["username"]})
        if user is None or not user.is_active:
            raise NotAuthenticatedError("Wrong username or password.")  # audited by exchange.login
        user_logged_in.send(sender=user.__class__, request=http_request, user=user)  # axes resets the count
        token = token_issue(user=user, ip=client_ip(request))
        return Response({"token": token.key, "expires_at": token_expires_at(token)})


class LogoutApi(ExchangeAPIView):
    """Revoke the caller's API token (every client using it is signed out). Permission: authenticated."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        request=None,
        responses={
            204: OpenApiResponse(description="The token is revoked."),
            401: error_response("No valid credentials.",
                                ("not_authenticated", "Authentication credentials were not provided.", None),
                                TOKEN_EXPIRED_EXAMPLE),
        },
    )
    def post(self, request):
        token_revoke(user=request.user, ip=client_ip(request))
        return Response(status=204)


class MeApi(ExchangeAPIView):
    """The signed-in user with organisation and roles. Permission: authenticated."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={
        200: inline_serializer("Me", {
            "username": serializers.CharField(), "roles": serializers.ListField(child=serializers.CharField()),
            "organisation": serializers.DictField(allow_null=True)}),
        401: error_response("No valid credentials.",
                            ("not_authenticated", "Authentication credentials were not provided.", None),
                            TOKEN_EXPIRED_EXAMPLE),
    })
    def get(self, request):
        user = request.user
        org = user.organisation
        return Response({
            "id": user.pk,
            "username": user.username,
            "display_name": user.display_name,
            "roles": user_roles(user),
            "organisation": None if org is None else {
                "id": org.pk, "name": org.name, "kind": org.kind, "region": org.region_id,
                "categories": org.categories,
            },
        })
