"""Ingestion URLs, mounted at /api/v1/ingest/ by config.urls: the core API plus one set per
channel."""

from django.urls import include, path

urlpatterns = [
    path("", include("integrations.api.urls")),
    path("", include("integrations.webhooks.urls")),
    path("", include("integrations.feeds.urls")),
    path("", include("integrations.scans.urls")),
    path("", include("integrations.positions.urls")),
    path("", include("integrations.documents.urls")),
]
