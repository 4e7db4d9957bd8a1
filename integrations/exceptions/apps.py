from django.apps import AppConfig


class ExceptionsConfig(AppConfig):
    name = "integrations.exceptions"
    label = "exceptions"
    verbose_name = "Exceptions"

    def ready(self) -> None:
        from integrations.exceptions import detection
        from shipments import hooks

        # Every applied batch re-detects its shipments' exceptions, in its transaction.
        hooks.on_timeline_changed(detection.on_timeline_changed)
