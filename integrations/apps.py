from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"

    def ready(self) -> None:
        from integrations.pipeline import apply_held_for_new_references
        from shipments import hooks

        # Events that arrived before their shipment existed are applied once it does.
        hooks.on_references_added(apply_held_for_new_references)
