"""Pre-review API routes (included under /api/v1/ by ``catalog.urls``)."""

from django.urls import path

from catalog.prereview import apis

urlpatterns = [
    path("resources/<uuid:resource_id>/prereview", apis.ResourcePrereviewApi.as_view(),
         name="api-resource-prereview"),
    path("negative-list/local", apis.LocalNegativeListApi.as_view(), name="api-negative-list-local"),
    path("negative-list/local/<uuid:entry_id>", apis.LocalNegativeTermApi.as_view(),
         name="api-negative-term-local"),
    path("review/rechecks", apis.RecheckQueueApi.as_view(), name="api-recheck-queue"),
    path("review/rechecks/<int:item_id>/resolve", apis.RecheckResolveApi.as_view(), name="api-recheck-resolve"),
    path("prereview/rechecks", apis.RecheckReportApi.as_view(), name="api-recheck-report"),
    path("prereview/rechecks/<int:run_id>", apis.RecheckReportDetailApi.as_view(), name="api-recheck-report-detail"),
]
