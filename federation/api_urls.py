"""Operator API routes, mounted at ``/api/v1/federation/`` by ``exchange.urls``."""

from django.urls import path

from federation import apis, negative_list_views

urlpatterns = [
    path("peers", apis.PeerListApi.as_view(), name="api-federation-peers"),
    path("peers/<str:node_id>/pull", apis.PeerPullApi.as_view(), name="api-federation-peer-pull"),
    path("identity", apis.IdentityApi.as_view(), name="api-federation-identity"),
    path("tree", apis.NodeTreeApi.as_view(), name="api-federation-tree"),
    path("enrolments", apis.EnrolmentListApi.as_view(), name="api-federation-enrolments"),
    path("enrolments/<int:enrolment_id>/approve", apis.EnrolmentApproveApi.as_view(),
         name="api-federation-enrolment-approve"),
    path("nodes/<str:node_id>/revoke", apis.NodeRevokeApi.as_view(), name="api-federation-node-revoke"),
    path("reinstatements", apis.ReinstatementApi.as_view(), name="api-federation-reinstatements"),
    path("negative-list", negative_list_views.NationalNegativeListApi.as_view(), name="api-federation-negative-list"),
    path("negative-list/<uuid:entry_id>", negative_list_views.NationalNegativeTermApi.as_view(),
         name="api-federation-negative-term"),
]
