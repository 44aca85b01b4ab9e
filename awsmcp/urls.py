"""Django URLs: the ops console, health endpoints and OAuth (authorization server, metadata). MCP routes are ASGI endpoints (see asgi.py)."""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from ops.cache_page import cache_page

urlpatterns = [
    path("admin/cache/", cache_page, name="ops-cache"),
    path("admin/", admin.site.urls),
    path("favicon.ico", RedirectView.as_view(url=static("ops/favicon.svg"))),  # for pages that name no icon
    path("", include("oauth.urls")),
    path("", include("ops.urls")),
]
