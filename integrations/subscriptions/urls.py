"""URL patterns of partner webhooks, under /api/v1/webhooks/."""

from django.urls import path

from integrations.subscriptions import api

urlpatterns = [
    path("", api.WebhookListView.as_view(), name="api-webhooks"),
    path("<id:webhook_id>/", api.WebhookDetailView.as_view(), name="api-webhook-detail"),
    path("<id:webhook_id>/test/", api.WebhookTestView.as_view(), name="api-webhook-test"),
    path(
        "<id:webhook_id>/rotate-secret/",
        api.WebhookRotateSecretView.as_view(),
        name="api-webhook-rotate-secret",
    ),
    path(
        "<id:webhook_id>/deliveries/",
        api.WebhookDeliveryListView.as_view(),
        name="api-webhook-deliveries",
    ),
    path(
        "<id:webhook_id>/deliveries/replay-failed/",
        api.WebhookReplayFailedView.as_view(),
        name="api-webhook-deliveries-replay-failed",
    ),
    path(
        "<id:webhook_id>/deliveries/<id:delivery_id>/replay/",
        api.WebhookDeliveryReplayView.as_view(),
        name="api-webhook-delivery-replay",
    ),
]
