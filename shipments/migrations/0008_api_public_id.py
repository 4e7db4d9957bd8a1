"""The partner API (issue 14): shipments get an opaque public id (also a reference of kind
"milepost", so events posted to /shipments/{id}/events/ are matched by the pipeline), an
updated_at to sync on, and the list indexes (equality columns, then the keyset order with its
tie-breaker). Additive: existing rows get random ids per tenant (RLS is forced for the owner
role too, so each tenant's rows are updated in its own context)."""

import django.utils.timezone
from django.db import migrations, models


def backfill(apps, schema_editor) -> None:
    from tenancy.context import tenant_context

    quote = schema_editor.connection.ops.quote_name
    tenants = quote(apps.get_model("tenancy", "Tenant")._meta.db_table)
    using = schema_editor.connection.alias
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {tenants} ORDER BY id")  # noqa: S608
        tenant_ids = [tenant_id for (tenant_id,) in cursor.fetchall()]
    for tenant_id in tenant_ids:
        # The signed context (tenancy.context): a bare set_config shows the policy no rows.
        with tenant_context(tenant_id, using=using), schema_editor.connection.cursor() as cursor:
            # md5's hex digits are all in the Crockford base32 alphabet of new_public_id.
            cursor.execute(
                "UPDATE shipments_shipment SET public_id = 'shp_' || "
                "substr(md5(random()::text || id::text || clock_timestamp()::text), 1, 16), "
                "updated_at = COALESCE(timeline_computed_at, created_at) WHERE public_id IS NULL"
            )
            cursor.execute(
                "INSERT INTO shipments_shipmentreference (tenant_id, shipment_id, kind, value) "
                "SELECT tenant_id, id, 'milepost', public_id FROM shipments_shipment "
                "ON CONFLICT DO NOTHING"
            )


class Migration(migrations.Migration):
    dependencies = [
        ("milestones", "0002_definition_repeatable"),
        ("shipments", "0007_place_pointers"),
        ("tenancy", "0001_initial"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="shipment",
            name="shipments_s_tenant__1864e4_idx",
        ),
        migrations.RemoveIndex(
            model_name="shipment",
            name="shipments_s_tenant__63ef96_idx",
        ),
        migrations.AddField(
            model_name="shipment",
            name="public_id",
            field=models.CharField(editable=False, max_length=24, null=True),
        ),
        migrations.AddField(
            model_name="shipment",
            name="updated_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.AlterField(
            model_name="shipmentreference",
            name="kind",
            field=models.CharField(
                choices=[
                    ("tracking_number", "Tracking number"),
                    ("bill_of_lading", "Bill of lading"),
                    ("air_waybill", "Air waybill"),
                    ("container", "Container"),
                    ("booking", "Booking"),
                    ("purchase_order", "Purchase order"),
                    ("customer_reference", "Customer reference"),
                    ("shipment_id", "Shipment id"),
                    ("consignment", "Consignment"),
                    ("transport_document", "Transport document"),
                    ("sscc", "SSCC"),
                    ("milepost", "Milepost id"),
                ],
                max_length=24,
            ),
        ),
        migrations.AddIndex(
            model_name="shipment",
            index=models.Index(
                fields=["tenant", "-booked_at", "-public_id"], name="shipment_page_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="shipment",
            index=models.Index(
                fields=["tenant", "status", "-booked_at", "-public_id"], name="shipment_status_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="shipment",
            index=models.Index(
                fields=["tenant", "customer_account", "-booked_at", "-public_id"],
                name="shipment_customer_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="shipment",
            index=models.Index(
                fields=["tenant", "status", "mode", "-booked_at", "-public_id"],
                name="shipment_status_mode_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="shipment",
            index=models.Index(
                fields=["tenant", "mode", "-booked_at", "-public_id"], name="shipment_mode_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="shipment",
            index=models.Index(
                fields=["tenant", "carrier", "-booked_at", "-public_id"],
                name="shipment_carrier_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="shipment",
            index=models.Index(
                condition=models.Q(("is_late", True)),
                fields=["tenant", "-booked_at", "-public_id"],
                name="shipment_late_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="shipment",
            index=models.Index(
                fields=["tenant", "updated_at", "public_id"], name="shipment_updated_idx"
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
