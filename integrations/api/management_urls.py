"""URL patterns for this part of ingestion, included by integrations.urls."""

from django.urls import path

from integrations.api import management

urlpatterns: list = [
    path(
        "integrations/",
        management.IntegrationListView.as_view(),
        name="ingest-integrations",
    ),
    path(
        "integrations/<int:integration_id>/",
        management.IntegrationDetailView.as_view(),
        name="ingest-integration-detail",
    ),
    path(
        "integrations/<int:integration_id>/rotate-secret/",
        management.IntegrationRotateSecretView.as_view(),
        name="ingest-integration-rotate-secret",
    ),
    path(
        "integrations/<int:integration_id>/poll/",
        management.IntegrationPollView.as_view(),
        name="ingest-integration-poll",
    ),
]
