from django.apps import AppConfig


class ShipmentsConfig(AppConfig):
    name = "shipments"

    def ready(self) -> None:
        from shipments import hooks, live

        # Ops pages follow timelines live: a message after every committed refresh.
        hooks.on_timeline_changed(live.publish_timelines_changed, deferrable=False)
