"""URL patterns for this part of ingestion, included by integrations.urls."""

urlpatterns: list = []
