"""Ingestion URLs, mounted at /api/v1/ingest/ by config.urls."""

from django.urls import include, path

from integrations.api import views

urlpatterns = [
    path(
        "webhooks/<int:tenant_id>/<uuid:token>/",
        views.webhook,
        name="ingest-webhook",
    ),
    path("messages/", views.MessageUploadView.as_view(), name="ingest-messages"),
    path(
        "messages/<int:message_id>/",
        views.MessageDetailView.as_view(),
        name="ingest-message-detail",
    ),
    path("dead-letters/", views.DeadLetterListView.as_view(), name="ingest-dead-letters"),
    path(
        "dead-letters/<int:dead_letter_id>/replay/",
        views.DeadLetterReplayView.as_view(),
        name="ingest-dead-letter-replay",
    ),
    path(
        "dead-letters/replay-all/",
        views.DeadLetterReplayAllView.as_view(),
        name="ingest-dead-letters-replay-all",
    ),
    path("", include("integrations.api.management_urls")),
    path("", include("integrations.api.feeds_urls")),
    path("", include("integrations.api.field_urls")),
    path("", include("integrations.api.documents_urls")),
]
