from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate


class TenancyConfig(AppConfig):
    name = "tenancy"
    verbose_name = "Tenancy and accounts"

    def ready(self) -> None:
        # Importing checks registers the system checks; dbpriority is connected below.
        from tenancy import checks, converters, dbpriority, rls  # noqa: F401

        # Only for processes started by scripts/lowprio.sh (MILEPOST_DB_NICE).
        connection_created.connect(dbpriority.on_connection_created, dispatch_uid="db-nice")
        converters.register()  # before any URLconf is loaded

        # Sent once per app after the whole migrate run; bound to this app so it runs once.
        post_migrate.connect(rls.on_post_migrate, sender=self, dispatch_uid="tenancy-rls")
