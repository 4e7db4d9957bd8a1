"""URL patterns of the feeds channel, included by integrations.urls."""

from django.urls import path

from integrations.feeds import api

urlpatterns = [
    path(
        "integrations/<id:integration_id>/feed-mapping/",
        api.FeedMappingView.as_view(),
        name="ingest-feed-mapping",
    ),
    path(
        "integrations/<id:integration_id>/feed-mapping/preview/",
        api.FeedMappingPreviewView.as_view(),
        name="ingest-feed-mapping-preview",
    ),
]
