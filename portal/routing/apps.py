from django.apps import AppConfig


class RoutingConfig(AppConfig):
    """Drivers' daily routes: stop sequencing (VROOM) and per-stop ETAs."""

    name = "portal.routing"
    label = "routing"
    verbose_name = "Routes and stop sequencing"

    def ready(self) -> None:
        from portal.routing import services
        from shipments.hooks import on_timeline_changed

        # A scan (or any event) on a routed shipment updates its stop and the ETAs after it.
        on_timeline_changed(services.stops_follow_timelines)
