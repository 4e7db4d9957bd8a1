"""URL patterns of notifications, mounted at /api/v1/notifications/ by config.urls."""

from django.urls import path

from integrations.notifications import api

urlpatterns = [
    path("preferences/", api.PreferenceListView.as_view(), name="notification-preferences"),
    path("deliveries/", api.DeliveryListView.as_view(), name="notification-deliveries"),
    path(
        "deliveries/<id:notification_id>/",
        api.DeliveryDetailView.as_view(),
        name="notification-delivery",
    ),
    path("inbox/", api.InboxView.as_view(), name="notification-inbox"),
    path(
        "inbox/<id:notification_id>/read/",
        api.InboxReadView.as_view(),
        name="notification-inbox-read",
    ),
    path("templates/", api.TemplateListView.as_view(), name="notification-templates"),
    path(
        "templates/<id:template_id>/",
        api.TemplateDetailView.as_view(),
        name="notification-template",
    ),
    path("unsubscribe/", api.UnsubscribeView.as_view(), name="notification-unsubscribe"),
]
