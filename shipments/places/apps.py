from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PlacesConfig(AppConfig):
    name = "shipments.places"
    label = "places"
    verbose_name = "Places"

    def ready(self) -> None:
        from shipments.places import grants

        # After tenancy's post_migrate (which grants the app role writes on every table;
        # this app is listed after tenancy), the global registry goes back to SELECT only.
        post_migrate.connect(grants.on_post_migrate, sender=self, dispatch_uid="places-grants")
