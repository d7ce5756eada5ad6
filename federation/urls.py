"""Protocol v1 routes, mounted at ``/federation/v1/`` by ``exchange.urls`` (see PROTOCOL.md)."""

from django.urls import path

from federation import endpoints, negative_list_views

urlpatterns = [
    path("changes", endpoints.changes, name="federation-changes"),
    path("poke", endpoints.poke, name="federation-poke"),
    path("files/<str:sha256>", endpoints.file_content, name="federation-file"),
    path("receipts", endpoints.receipts_view, name="federation-receipts"),
    path("takedowns", endpoints.takedowns_view, name="federation-takedowns"),
    path("takedowns/decision", endpoints.takedown_decision, name="federation-takedown-decision"),
    path("revocations", endpoints.revocations, name="federation-revocations"),
    path("certificate", endpoints.certificate_push, name="federation-certificate"),
    path("enrolments", endpoints.enrolments, name="federation-enrolments"),
    path("enrolments/<str:node_id>", endpoints.enrolment_detail, name="federation-enrolment"),
    path("certificates/renew", endpoints.certificates_renew, name="federation-certificates-renew"),
    path("nodes", endpoints.nodes, name="federation-nodes"),
    path("negative-list", negative_list_views.negative_list_endpoint, name="federation-negative-list"),
]
