"""URL patterns of the core ingestion API (messages, dead letters, integrations)."""

from django.urls import path

from integrations.api import management, views

urlpatterns = [
    path("messages/", views.MessageUploadView.as_view(), name="ingest-messages"),
    path(
        "messages/<id:message_id>/",
        views.MessageDetailView.as_view(),
        name="ingest-message-detail",
    ),
    path("dead-letters/", views.DeadLetterListView.as_view(), name="ingest-dead-letters"),
    path(
        "dead-letters/<id:dead_letter_id>/replay/",
        views.DeadLetterReplayView.as_view(),
        name="ingest-dead-letter-replay",
    ),
    path(
        "dead-letters/replay-all/",
        views.DeadLetterReplayAllView.as_view(),
        name="ingest-dead-letters-replay-all",
    ),
    path("integrations/", management.IntegrationListView.as_view(), name="ingest-integrations"),
    path(
        "integrations/<id:integration_id>/",
        management.IntegrationDetailView.as_view(),
        name="ingest-integration-detail",
    ),
    path(
        "integrations/<id:integration_id>/rotate-secret/",
        management.IntegrationRotateSecretView.as_view(),
        name="ingest-integration-rotate-secret",
    ),
    path(
        "integrations/<id:integration_id>/poll/",
        management.IntegrationPollView.as_view(),
        name="ingest-integration-poll",
    ),
]
