"""URL patterns of the webhook channel, included by integrations.urls."""

from django.urls import path

from integrations.webhooks import api

urlpatterns = [
    path("webhooks/<id:tenant_id>/<uuid:token>/", api.WebhookView.as_view(), name="ingest-webhook"),
]
