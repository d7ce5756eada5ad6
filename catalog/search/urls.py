from django.urls import path

from catalog.search import apis

urlpatterns = [
    path("search", apis.SearchApi.as_view(), name="api-search"),
    path("search/suggest", apis.SearchSuggestApi.as_view(), name="api-search-suggest"),
    path("browse", apis.BrowseApi.as_view(), name="api-browse"),
]
