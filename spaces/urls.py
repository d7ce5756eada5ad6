"""Teacher spaces API routes, mounted under ``/api/v1/`` (the Atom feed is mounted at ``/feeds/`` and the
pages by ``exchange.page_urls``)."""

from django.urls import path

from spaces import apis

urlpatterns = [
    path("collections", apis.CollectionListApi.as_view(), name="api-collections"),
    path("collections/import", apis.CollectionImportApi.as_view(), name="api-collections-import"),
    path("collections/<uuid:collection_id>", apis.CollectionDetailApi.as_view(), name="api-collection"),
    path("collections/<uuid:collection_id>/items", apis.CollectionItemsApi.as_view(), name="api-collection-items"),
    path("collections/<uuid:collection_id>/items/<int:item_id>", apis.CollectionItemApi.as_view(),
         name="api-collection-item"),
    path("collections/<uuid:collection_id>/package", apis.CollectionPackageApi.as_view(),
         name="api-collection-package"),
    path("collections/<uuid:collection_id>/package/purchase", apis.CollectionPurchaseApi.as_view(),
         name="api-collection-purchase"),
    path("follows", apis.FollowListApi.as_view(), name="api-follows"),
    path("follows/<int:follow_id>", apis.FollowDetailApi.as_view(), name="api-follow"),
    path("feed", apis.FeedApi.as_view(), name="api-feed"),
    path("feed/token", apis.FeedTokenApi.as_view(), name="api-feed-token"),
    path("feed/digest", apis.FeedDigestApi.as_view(), name="api-feed-digest"),
]
