"""Milestone definitions say whether a milestone may legitimately happen again (issue 11).

Existing definitions of the milestones the default templates mark repeatable (delivery attempts
and customs holds) become repeatable, so existing shipments compute the current attempt too.
The update runs in each tenant's context: the table has row-level security forced, for the
owner role as well.
"""

from django.db import migrations, models

REPEATABLE = ["out_for_delivery", "failed_delivery", "customs_hold"]


def mark_repeatable(apps, schema_editor) -> None:
    from tenancy.context import tenant_context

    tenants = apps.get_model("tenancy", "Tenant")._meta.db_table
    definitions = apps.get_model("milestones", "MilestoneDefinition")._meta.db_table
    quote = schema_editor.connection.ops.quote_name
    using = schema_editor.connection.alias
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {quote(tenants)} ORDER BY id")  # noqa: S608
        tenant_ids = [tenant_id for (tenant_id,) in cursor.fetchall()]
    for tenant_id in tenant_ids:
        # The signed context (tenancy.context): a bare set_config shows the policy no rows.
        with tenant_context(tenant_id, using=using), schema_editor.connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {quote(definitions)} SET repeatable = true "  # noqa: S608
                "WHERE code = ANY(%s) AND NOT repeatable",
                [REPEATABLE],
            )


class Migration(migrations.Migration):
    dependencies = [
        ("milestones", "0001_initial"),
        ("tenancy", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="milestonedefinition",
            name="repeatable",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(mark_repeatable, migrations.RunPython.noop),
    ]
