from django.apps import AppConfig


class OpsConfig(AppConfig):
    """The ops dashboard: pages under /ops/, its live feed, saved views and shipment tags."""

    name = "portal.ops"
    label = "ops"
    default_auto_field = "django.db.models.BigAutoField"
