"""URL map of the node (composition root: the one place that mounts every app)."""

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from exchange import apis, health, views
from spaces import views as spaces_views

api_v1 = [
    path("auth/token", apis.AuthTokenApi.as_view(), name="api-token"),
    path("auth/logout", apis.LogoutApi.as_view(), name="api-logout"),
    path("me", apis.MeApi.as_view(), name="api-me"),
    path("", include("catalog.urls")),
    path("", include("catalog.search.urls")),
    path("", include("licensing.urls")),
    path("", include("spaces.urls")),
    path("federation/", include("federation.api_urls")),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
    path("oai", include("federation.oai.urls")),
    path("api/v1/", include(api_v1)),
    path("federation/v1/", include("federation.urls")),
    path(".well-known/", include("federation.wellknown_urls")),
    path("files/", include("licensing.file_urls")),
    # A teacher's Atom feed: the token is the secret (redacted from every log: LOG_REDACT_PATH_PREFIXES).
    path("feeds/<str:token>/atom", spaces_views.feed_atom, name="feed-atom"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI: its start-up script is a separate request (no inline script); it sets inline styles
    # and draws icons from data: URLs, which this page alone may do.
    path("api/docs/", csp_update({"style-src": [UNSAFE_INLINE], "img-src": ["data:"]})(
        SpectacularSwaggerSplitView.as_view(url_name="api-schema")), name="api-docs"),
    path("i18n/", include("django.conf.urls.i18n")),
    # The sign-in form with its rate limit; the rest of Django's account views as they are.
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("", include("exchange.page_urls")),
]

handler404 = "exchange.views.handler404"
handler500 = "exchange.views.handler500"
handler403 = "exchange.views.handler403"
handler400 = "exchange.views.handler400"
