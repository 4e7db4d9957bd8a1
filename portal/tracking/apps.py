from django.apps import AppConfig


class TrackingConfig(AppConfig):
    """The tenant-branded customer tracking portal (public pages, share links, live page)."""

    name = "portal.tracking"
    label = "tracking"
    verbose_name = "Customer tracking portal"

    def ready(self) -> None:
        from portal.tracking import live
        from shipments.hooks import on_timeline_changed

        # Every refreshed timeline nudges the customer pages watching those shipments.
        on_timeline_changed(live.publish_shipments_changed, deferrable=False)
