from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "integrations.notifications"
    label = "notifications"
    verbose_name = "Notifications"
