"""Django URLs: the ops console and health endpoints. MCP routes are ASGI endpoints (see asgi.py)."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("ops.urls")),
]
