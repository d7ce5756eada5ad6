"""Account APIs: token login and the current user."""

from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import permissions, serializers
from rest_framework.authtoken.models import Token
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from exchange.api import ExchangeAPIView
from exchange.audit import audit_record
from exchange.errors import NotAuthenticatedError
from exchange.roles import user_roles


def client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "")


class AuthTokenApi(ExchangeAPIView):
    """Exchange a username and password for an API token. Permission: anyone (rate-limited)."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(style={"input_type": "password"}, max_length=4096)

    body_fields = {"post": InputSerializer}

    @extend_schema(request=InputSerializer, responses=inline_serializer("Token", {"token": serializers.CharField()}))
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request, username=data.validated_data["username"],
                            password=data.validated_data["password"])
        if user is None or not user.is_active:
            audit_record(action="auth.login_failed", actor=data.validated_data["username"], ip=client_ip(request))
            raise NotAuthenticatedError("Wrong username or password.")
        token, _ = Token.objects.get_or_create(user=user)
        audit_record(action="auth.token", actor=user, object_type="user", object_id=user.pk, ip=client_ip(request))
        return Response({"token": token.key})


class MeApi(ExchangeAPIView):
    """The signed-in user with organisation and roles. Permission: authenticated."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses=inline_serializer("Me", {
        "username": serializers.CharField(), "roles": serializers.ListField(child=serializers.CharField()),
        "organisation": serializers.DictField(allow_null=True)}))
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
