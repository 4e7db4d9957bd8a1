"""Public ids are required and unique per tenant once every row has one (0007). A separate
migration: ALTER TABLE may not follow the backfill's writes in one transaction (deferred
foreign key checks are still pending there)."""

from django.db import migrations, models

import shipments.models


class Migration(migrations.Migration):
    dependencies = [("shipments", "0008_api_public_id")]

    operations = [
        migrations.AlterField(
            model_name="shipment",
            name="public_id",
            field=models.CharField(
                default=shipments.models.new_public_id, editable=False, max_length=24
            ),
        ),
        migrations.AddConstraint(
            model_name="shipment",
            constraint=models.UniqueConstraint(
                fields=("tenant", "public_id"), name="shipment_public_id_uniq"
            ),
        ),
    ]
