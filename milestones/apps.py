from django.apps import AppConfig


class MilestonesConfig(AppConfig):
    name = "milestones"

    def ready(self) -> None:
        from milestones.services import templates_install_defaults
        from tenancy import hooks

        # Every new tenant starts with its own editable copies of the default templates.
        hooks.on_tenant_created(lambda _tenant_id: templates_install_defaults())
