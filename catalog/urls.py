from django.urls import include, path

from catalog import apis, lineage, sharing
from catalog.ratings import apis as rating_apis
from catalog.review import apis as review_apis

urlpatterns = [
    path("resources", apis.ResourceListCreateApi.as_view(), name="api-resources"),
    path("resources/<uuid:resource_id>", apis.ResourceDetailApi.as_view(), name="api-resource"),
    path("resources/<uuid:resource_id>/files", apis.ResourceFilesApi.as_view(), name="api-resource-files"),
    path("resources/<uuid:resource_id>/files/<uuid:file_id>", apis.ResourceFileDetailApi.as_view(),
         name="api-resource-file"),
    path("resources/<uuid:resource_id>/revision", review_apis.ResourceRevisionApi.as_view(),
         name="api-resource-revision"),
    path("resources/<uuid:resource_id>/review", review_apis.ResourceReviewApi.as_view(), name="api-resource-review"),
    path("resources/<uuid:resource_id>/history", review_apis.ResourceHistoryApi.as_view(),
         name="api-resource-history"),
    path("resources/<uuid:resource_id>/rereview", review_apis.ResourceRereviewApi.as_view(),
         name="api-resource-rereview"),
    path("resources/<uuid:resource_id>/submit", apis.ResourceSubmitApi.as_view(), name="api-resource-submit"),
    path("resources/<uuid:resource_id>/approve", apis.ResourceApproveApi.as_view(), name="api-resource-approve"),
    path("resources/<uuid:resource_id>/reject", apis.ResourceRejectApi.as_view(), name="api-resource-reject"),
    path("resources/<uuid:resource_id>/publish", apis.ResourcePublishApi.as_view(), name="api-resource-publish"),
    path("resources/<uuid:resource_id>/withdraw", apis.ResourceWithdrawApi.as_view(), name="api-resource-withdraw"),
    path("resources/<uuid:resource_id>/favourite", apis.ResourceFavouriteApi.as_view(),
         name="api-resource-favourite"),
    path("favourites", apis.FavouriteListApi.as_view(), name="api-favourites"),
    path("resources/<uuid:resource_id>/lineage", lineage.ResourceLineageApi.as_view(), name="api-resource-lineage"),
    path("school/sharing", sharing.SchoolSharingApi.as_view(), name="api-school-sharing"),
    path("resources/<uuid:resource_id>/ratings", rating_apis.ResourceRatingsApi.as_view(), name="api-resource-ratings"),
    path("ratings/<int:rating_id>/moderate", rating_apis.RatingModerateApi.as_view(), name="api-rating-moderate"),
    path("publisher/feedback", rating_apis.PublisherFeedbackApi.as_view(), name="api-publisher-feedback"),
    path("review/queue", review_apis.ReviewQueueApi.as_view(), name="api-review-queue"),
    path("review/due", review_apis.ReviewDueApi.as_view(), name="api-review-due"),
    path("review/policy", review_apis.ReviewPolicyApi.as_view(), name="api-review-policy"),
    path("commitment", review_apis.CommitmentApi.as_view(), name="api-commitment"),
    path("commitment/accept", review_apis.CommitmentAcceptApi.as_view(), name="api-commitment-accept"),
    path("vocabularies", apis.VocabularyApi.as_view(), name="api-vocabularies"),
    path("", include("catalog.prereview.urls")),
]
