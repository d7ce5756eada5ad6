"""Operator API for federation (``/api/v1/federation/…``): peers and sync health, enrolments,
approvals and revocations. The protocol endpoints themselves are in :mod:`federation.endpoints`."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response

from exchange.api import ERROR_RESPONSE, ExchangeAPIView, HasRole
from exchange.errors import InvalidInputError
from exchange.roles import Role
from federation import hub, selectors, takedowns
from federation.errors import UnknownPeerError
from federation.jobs import pull_requested
from federation.models import Enrolment, Peer

IsHubOperator = HasRole.of(Role.HUB_OPERATOR)
IsFederationOperator = HasRole.of(Role.HUB_OPERATOR, Role.PROVINCE_ADMIN)


class EnrolmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Enrolment
        fields = ["id", "node_id", "role", "region", "name", "base_url", "kid", "fingerprint", "status",
                  "requested_at", "decided_at", "note"]


PeerStatus = inline_serializer("FederationPeer", {
    "node_id": serializers.CharField(), "role": serializers.CharField(), "status": serializers.CharField(),
    "base_url": serializers.CharField(), "cursor": serializers.IntegerField(),
    "remote_head": serializers.IntegerField(), "lag_entries": serializers.IntegerField(allow_null=True),
    "lag_seconds": serializers.IntegerField(allow_null=True), "last_success_at": serializers.DateTimeField(),
    "last_error_code": serializers.CharField(allow_null=True), "last_error": serializers.CharField(allow_null=True),
    "certificate_not_after": serializers.DateTimeField(allow_null=True),
})


class PeerListApi(ExchangeAPIView):
    """Peers with cursor, lag, last success, last error and certificate expiry.
    Permission: hub operators and province administrators."""

    permission_classes = [IsFederationOperator]

    @extend_schema(responses=inline_serializer("FederationPeers", {"results": PeerStatus}))
    def get(self, request):
        return Response({"results": selectors.peer_status_list()})


class PeerPullApi(ExchangeAPIView):
    """Ask this node to pull a peer's feed now. Permission: hub operators and province administrators."""

    permission_classes = [IsFederationOperator]
    body_fields = {"post": ()}

    @extend_schema(request=None, responses={202: inline_serializer("PullQueued", {"queued": serializers.BooleanField()})})
    def post(self, request, node_id: str):
        if not Peer.objects.filter(node_id=node_id, pull=True).exists():
            raise UnknownPeerError(details={"node_id": node_id})
        pull_requested(node_id=node_id)
        return Response({"queued": True}, status=status.HTTP_202_ACCEPTED)


class IdentityApi(ExchangeAPIView):
    """This node's federation identity: keys, fingerprints, certificate, feed head.
    Permission: hub operators and province administrators."""

    permission_classes = [IsFederationOperator]

    @extend_schema(responses=inline_serializer("FederationIdentity", {"node_id": serializers.CharField()}))
    def get(self, request):
        return Response(selectors.identity_status())


class NodeTreeApi(ExchangeAPIView):
    """This node's subtree: every node certified below it (who certified whom), with how each pull along
    the tree stands (lag, last success, last error). Nodes outside the subtree are not listed.
    Permission: hub operators and province administrators."""

    permission_classes = [IsFederationOperator]

    @extend_schema(responses=inline_serializer("FederationTree", {
        "parent": serializers.CharField(allow_null=True),
        "nodes": inline_serializer("FederationTreeNode", {
            "node_id": serializers.CharField(), "depth": serializers.IntegerField(), "role": serializers.CharField(),
            "region": serializers.CharField(), "scope": serializers.CharField(),
            "certified_by": serializers.CharField(), "status": serializers.CharField(),
            "edge": serializers.DictField(allow_null=True)}, many=True)}))
    def get(self, request):
        return Response(selectors.node_tree())


class EnrolmentListApi(ExchangeAPIView):
    """Enrolment requests this node received from its children (the hub: provinces; a province: its
    cities; a city: its counties). Permission: hub operators (this node's federation operators)."""

    permission_classes = [IsHubOperator]

    @extend_schema(parameters=[OpenApiParameter("status", str)], responses=EnrolmentSerializer(many=True))
    def get(self, request):
        rows = selectors.enrolment_list(status=request.query_params.get("status"))
        return Response({"results": EnrolmentSerializer(rows, many=True).data})


class EnrolmentApproveApi(ExchangeAPIView):
    """Approve an enrolment after comparing the key fingerprint read out by the province's operator.
    Issues the node certificate. Permission: hub operators."""

    permission_classes = [IsHubOperator]

    class EnrolmentApproveInputSerializer(serializers.Serializer):
        fingerprint = serializers.CharField()

    body_fields = {"post": EnrolmentApproveInputSerializer}

    @extend_schema(request=EnrolmentApproveInputSerializer, responses=inline_serializer("EnrolmentApproved", {
        "node_id": serializers.CharField(), "serial": serializers.CharField(),
        "not_after": serializers.DateTimeField()}))
    def post(self, request, enrolment_id: int):
        data = self.EnrolmentApproveInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        enrolment = hub.enrolment_get(enrolment_id=enrolment_id)
        issued = hub.enrolment_approve(node_id=enrolment.node_id, fingerprint_seen=data.validated_data["fingerprint"],
                                       actor=request.user)
        return Response({"node_id": issued.node_id, "serial": issued.serial,
                         "not_after": issued.not_after.isoformat()})


class NodeRevokeApi(ExchangeAPIView):
    """Revoke every certificate of a child node — and with it every node below it; this node's new signed
    revocation list travels the whole tree. Permission: hub operators (this node's federation operators)."""

    permission_classes = [IsHubOperator]

    class NodeRevokeInputSerializer(serializers.Serializer):
        reason = serializers.CharField()

    body_fields = {"post": NodeRevokeInputSerializer}

    @extend_schema(request=NodeRevokeInputSerializer, responses=inline_serializer("NodeRevoked", {
        "node_id": serializers.CharField(), "revocation_list": serializers.IntegerField()}))
    def post(self, request, node_id: str):
        data = self.NodeRevokeInputSerializer(data=request.data)
        if not data.is_valid():
            raise InvalidInputError(details=data.errors)
        state = hub.node_revoke(node_id=node_id, actor=request.user, reason=data.validated_data["reason"])
        return Response({"node_id": node_id, "revocation_list": state.number})


class ReinstatementApi(ExchangeAPIView):
    """Lift a national takedown this hub ordered: the record is public again wherever it was public
    when taken down (or got a newer version since), and every node gets the hub's signed
    ``reinstate`` order. Permission: hub operators (at the hub)."""

    permission_classes = [IsHubOperator]

    class ReinstatementInputSerializer(serializers.Serializer):
        origin = serializers.CharField(max_length=63)
        record_id = serializers.UUIDField()
        note = serializers.CharField(max_length=2000)

    body_fields = {"post": ReinstatementInputSerializer}

    @extend_schema(
        request=ReinstatementInputSerializer,
        responses={200: inline_serializer("Reinstated", {"origin": serializers.CharField(),
                                                         "record_id": serializers.UUIDField(),
                                                         "outcome": serializers.CharField()}),
                   409: ERROR_RESPONSE, 404: ERROR_RESPONSE, 403: ERROR_RESPONSE},
        examples=[OpenApiExample("reinstate", request_only=True, value={
            "origin": "cn-11", "record_id": "0b7c3f2e-5d1a-4c0e-9f1b-2a3c4d5e6f70", "note": "权利人撤回投诉，复核后恢复"}),
                  OpenApiExample("not standing", response_only=True, status_codes=["409"], value={"error": {
                      "code": "takedown_not_standing", "message": "No takedown ordered by this node stands "
                      "against this record.", "details": {"outcome": "absent"}}})],
    )
    def post(self, request):
        data = self.ReinstatementInputSerializer(data=request.data)
        if not data.is_valid():
            raise InvalidInputError(details=data.errors)
        values = data.validated_data
        outcome = takedowns.national_reinstate(origin=values["origin"], record_id=str(values["record_id"]),
                                               actor=request.user, note=values["note"])
        return Response({"origin": values["origin"], "record_id": str(values["record_id"]), "outcome": outcome})
