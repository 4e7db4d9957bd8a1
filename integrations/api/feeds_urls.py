"""URL patterns for this part of ingestion, included by integrations.urls."""

from django.urls import path

from integrations.api import feeds

urlpatterns: list = [
    path(
        "integrations/<int:integration_id>/feed-mapping/",
        feeds.FeedMappingView.as_view(),
        name="ingest-feed-mapping",
    ),
    path(
        "integrations/<int:integration_id>/feed-mapping/preview/",
        feeds.FeedMappingPreviewView.as_view(),
        name="ingest-feed-mapping-preview",
    ),
]
