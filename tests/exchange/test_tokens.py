"""API tokens have a lifetime, are rotated at each sign-in and can be revoked; the OpenAPI schema says so."""

from __future__ import annotations

import datetime as dt

from django.conf import settings as django_settings
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from exchange.models import AuditEvent


def sign_in(username: str = "teacher") -> dict:
    response = APIClient().post("/api/v1/auth/token", {"username": username, "password": f"test-pass-{username}"},
                                format="json")
    assert response.status_code == 200
    return response.json()


def me(key: str):
    return APIClient().get("/api/v1/me", HTTP_AUTHORIZATION=f"Token {key}")


def age_token(key: str, seconds: float) -> None:
    Token.objects.filter(key=key).update(created=timezone.now() - dt.timedelta(seconds=seconds))


def test_a_token_works_until_its_lifetime_is_over(users):
    issued = sign_in()
    expires_at = dt.datetime.fromisoformat(issued["expires_at"].replace("Z", "+00:00"))
    lifetime = dt.timedelta(seconds=django_settings.API_TOKEN_LIFETIME)
    assert abs(expires_at - (timezone.now() + lifetime)) < dt.timedelta(minutes=1)
    assert me(issued["token"]).status_code == 200

    age_token(issued["token"], django_settings.API_TOKEN_LIFETIME - 60)
    assert me(issued["token"]).status_code == 200

    age_token(issued["token"], django_settings.API_TOKEN_LIFETIME + 1)
    response = me(issued["token"])
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_expired"
    assert set(response.json()["error"]) == {"code", "message", "details"}
    assert response["WWW-Authenticate"].startswith("Token")


def test_the_lifetime_is_a_setting(users, settings):
    settings.API_TOKEN_LIFETIME = 3600
    issued = sign_in()
    age_token(issued["token"], 3599)
    assert me(issued["token"]).status_code == 200
    age_token(issued["token"], 3600)
    assert me(issued["token"]).json()["error"]["code"] == "token_expired"


def test_signing_in_again_rotates_the_token(users):
    first = sign_in()["token"]
    second = sign_in()["token"]
    assert second != first
    refused = me(first)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "authentication_failed"
    assert me(second).status_code == 200
    # A fresh token after an expired one.
    age_token(second, django_settings.API_TOKEN_LIFETIME + 1)
    third = sign_in()["token"]
    assert me(third).status_code == 200


def test_logout_revokes_the_token(users):
    key = sign_in()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = client.post("/api/v1/auth/logout")
    assert response.status_code == 204
    assert not Token.objects.filter(key=key).exists()
    again = client.get("/api/v1/me")
    assert again.status_code == 401 and again.json()["error"]["code"] == "authentication_failed"
    assert AuditEvent.objects.filter(action="auth.token_revoked", actor="teacher").exists()
    # Logging out needs credentials.
    anonymous = APIClient().post("/api/v1/auth/logout")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "not_authenticated"


def test_logout_with_an_expired_token_is_token_expired(users):
    key = sign_in()["token"]
    age_token(key, django_settings.API_TOKEN_LIFETIME + 1)
    response = APIClient().post("/api/v1/auth/logout", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 401 and response.json()["error"]["code"] == "token_expired"


def test_openapi_documents_sign_in_logout_and_their_errors(client, db):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    token_post = schema["paths"]["/api/v1/auth/token"]["post"]["responses"]
    assert {"200", "400", "401", "429"} <= set(token_post)
    examples = token_post["429"]["content"]["application/json"]["examples"]
    assert {e["value"]["error"]["code"] for e in examples.values()} == {"too_many_attempts", "throttled"}
    assert "expires_at" in schema["components"]["schemas"]["Token"]["properties"]
    logout = schema["paths"]["/api/v1/auth/logout"]["post"]["responses"]
    assert {"204", "401"} <= set(logout)
    codes = {e["value"]["error"]["code"] for e in logout["401"]["content"]["application/json"]["examples"].values()}
    assert codes == {"not_authenticated", "token_expired"}
    assert schema["components"]["schemas"]["Error"]["properties"]["error"]
