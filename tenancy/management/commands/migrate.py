"""``migrate`` runs as the schema owner: the app role may not change the schema.

Before the migrations run it writes the signed-context key and functions (tenancy.rls), so
that data migrations can act in a tenant's context: ``with tenant_context(tenant_id,
using=schema_editor.connection.alias): ...``. A bare ``set_config`` of the tenant setting is
not a context any more; row-level security would show such a migration no rows. The tables
that exist already get today's policies first too (an upgrade from policies that compared a
bare setting).
"""

from django.core.management.commands.migrate import Command as DjangoMigrate

from tenancy.rls import apply_context, apply_policies_to_existing


class Command(DjangoMigrate):
    def handle(self, *args, **options):
        if options.get("database") in (None, "default"):
            options["database"] = "owner"
        if not (options.get("plan") or options.get("check_unapplied")):
            apply_context(options["database"])
            apply_policies_to_existing(options["database"])
        return super().handle(*args, **options)
