"""Licensing API routes, mounted under ``/api/v1/`` (the signed file links are mounted at ``/files/``
by ``exchange.urls``)."""

from django.urls import path

from licensing import apis

urlpatterns = [
    path("resources/<uuid:resource_id>/access", apis.ResourceAccessApi.as_view(), name="api-resource-access"),
    path("resources/<uuid:resource_id>/download", apis.ResourceDownloadApi.as_view(), name="api-resource-download"),
    path("resources/<uuid:resource_id>/rights", apis.ResourceRightsApi.as_view(), name="api-resource-rights"),
    path("resources/<uuid:resource_id>/rights/check", apis.ResourceRightsCheckApi.as_view(),
         name="api-resource-rights-check"),
    path("resources/<uuid:resource_id>/attribution", apis.ResourceAttributionApi.as_view(),
         name="api-resource-attribution"),
    path("resources/<uuid:resource_id>/grants", apis.ResourceGrantPurchaseApi.as_view(), name="api-resource-grants"),
    path("resources/<uuid:resource_id>/remix", apis.ResourceRemixApi.as_view(), name="api-resource-remix"),
    path("licenses", apis.LicenseListApi.as_view(), name="api-licenses"),
    path("grants", apis.GrantListApi.as_view(), name="api-grants"),
    path("vouchers/balance", apis.VoucherBalanceApi.as_view(), name="api-vouchers-balance"),
    path("vouchers/accounts", apis.VoucherAccountListApi.as_view(), name="api-voucher-accounts"),
    path("vouchers/accounts/<int:account_id>", apis.VoucherAccountDetailApi.as_view(), name="api-voucher-account"),
    path("vouchers/policy", apis.SchoolPolicyApi.as_view(), name="api-school-policy"),
    path("vouchers/allowances/<int:user_id>", apis.TeacherAllowanceApi.as_view(), name="api-teacher-allowance"),
    path("purchase-requests", apis.PurchaseRequestListApi.as_view(), name="api-purchase-requests"),
    path("purchase-requests/<int:request_id>/decide", apis.PurchaseRequestDecideApi.as_view(),
         name="api-purchase-request-decide"),
    path("vouchers/fund", apis.VoucherFundApi.as_view(), name="api-vouchers-fund"),
    path("takedowns", apis.TakedownListCreateApi.as_view(), name="api-takedowns"),
    path("takedowns/<int:notice_id>", apis.TakedownDetailApi.as_view(), name="api-takedown"),
    path("takedowns/<int:notice_id>/uphold", apis.TakedownUpholdApi.as_view(), name="api-takedown-uphold"),
    path("takedowns/<int:notice_id>/reject", apis.TakedownRejectApi.as_view(), name="api-takedown-reject"),
    path("settlement", apis.SettlementApi.as_view(), name="api-settlement"),
    path("settlement/csv", apis.SettlementCsvApi.as_view(), name="api-settlement-csv"),
    path("settlement/close", apis.SettlementCloseApi.as_view(), name="api-settlement-close"),
]
