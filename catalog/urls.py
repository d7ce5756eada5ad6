from django.urls import include, path

from catalog import apis

urlpatterns = [
    path("resources", apis.ResourceListCreateApi.as_view(), name="api-resources"),
    path("resources/<uuid:resource_id>", apis.ResourceDetailApi.as_view(), name="api-resource"),
    path("resources/<uuid:resource_id>/files", apis.ResourceFilesApi.as_view(), name="api-resource-files"),
    path("resources/<uuid:resource_id>/submit", apis.ResourceSubmitApi.as_view(), name="api-resource-submit"),
    path("resources/<uuid:resource_id>/approve", apis.ResourceApproveApi.as_view(), name="api-resource-approve"),
    path("resources/<uuid:resource_id>/reject", apis.ResourceRejectApi.as_view(), name="api-resource-reject"),
    path("resources/<uuid:resource_id>/publish", apis.ResourcePublishApi.as_view(), name="api-resource-publish"),
    path("resources/<uuid:resource_id>/withdraw", apis.ResourceWithdrawApi.as_view(), name="api-resource-withdraw"),
    path("resources/<uuid:resource_id>/favourite", apis.ResourceFavouriteApi.as_view(),
         name="api-resource-favourite"),
    path("favourites", apis.FavouriteListApi.as_view(), name="api-favourites"),
    path("review/queue", apis.ReviewQueueApi.as_view(), name="api-review-queue"),
    path("vocabularies", apis.VocabularyApi.as_view(), name="api-vocabularies"),
    path("", include("catalog.prereview.urls")),
]
