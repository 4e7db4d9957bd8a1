from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"

    def ready(self) -> None:
        # Channels with their own processors register them with the pipeline on import.
        from integrations.documents import services as _documents  # noqa: F401
        from integrations.pipeline import apply_held_for_new_references
        from integrations.positions import services as _positions  # noqa: F401
        from shipments import hooks

        # Events that arrived before their shipment existed are applied once it does.
        hooks.on_references_added(apply_held_for_new_references)
