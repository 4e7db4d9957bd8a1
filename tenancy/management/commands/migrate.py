"""``migrate`` runs as the schema owner: the app role may not change the schema."""

from django.core.management.commands.migrate import Command as DjangoMigrate


class Command(DjangoMigrate):
    def handle(self, *args, **options):
        if options.get("database") in (None, "default"):
            options["database"] = "owner"
        return super().handle(*args, **options)
