"""Events point at shipments through a per-statement check instead of a row-level foreign key.

A foreign key check runs one query per inserted row (at ingest volumes it cost as much as the
insert itself); this trigger checks a whole INSERT at once, takes the same FOR KEY SHARE locks,
and, running as the inserting role, also refuses another tenant's shipment (row-level security
hides it), which a foreign key check would not. Deleting shipments still cascades to events.
The tenant foreign key goes too: row-level security's WITH CHECK pins rows to the tenant.
"""

import django.db.models.deletion
from django.db import migrations, models

SQL = """
CREATE OR REPLACE FUNCTION milepost_event_shipments_exist() RETURNS trigger AS $$
DECLARE
    missing bigint;
BEGIN
    -- One primary-key probe per distinct shipment (LATERAL keeps the plan index-driven even
    -- when a new tenant's rows are not in the statistics yet), locked FOR KEY SHARE as a
    -- foreign key check would. The tenant must match too, whatever role inserts.
    SELECT min(w.id) INTO missing
    FROM (SELECT DISTINCT tenant_id, shipment_id AS id FROM new_events) AS w
    LEFT JOIN LATERAL (
        SELECT s.id FROM shipments_shipment AS s
        WHERE s.id = w.id AND s.tenant_id = w.tenant_id
        FOR KEY SHARE OF s
    ) AS found ON true
    WHERE found.id IS NULL;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'tracking event for unknown shipment %', missing
            USING ERRCODE = 'foreign_key_violation',
                  CONSTRAINT = 'event_shipment_exists',
                  DETAIL = missing::text;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER shipments_trackingevent_shipment_exists
    AFTER INSERT ON shipments_trackingevent
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION milepost_event_shipments_exist();

CREATE OR REPLACE FUNCTION milepost_shipment_events_cascade() RETURNS trigger AS $$
BEGIN
    -- Per row: both leading columns of the (tenant, shipment, dedupe_key) index are known.
    DELETE FROM shipments_trackingevent
    WHERE tenant_id = OLD.tenant_id AND shipment_id = OLD.id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER shipments_shipment_events_cascade
    AFTER DELETE ON shipments_shipment
    FOR EACH ROW EXECUTE FUNCTION milepost_shipment_events_cascade();
"""

REVERSE = """
DROP TRIGGER IF EXISTS shipments_shipment_events_cascade ON shipments_shipment;
DROP FUNCTION IF EXISTS milepost_shipment_events_cascade();
DROP TRIGGER IF EXISTS shipments_trackingevent_shipment_exists ON shipments_trackingevent;
DROP FUNCTION IF EXISTS milepost_event_shipments_exist();
"""


class Migration(migrations.Migration):
    dependencies = [("shipments", "0003_event_indexes"), ("tenancy", "0001_initial")]

    operations = [
        migrations.AlterField(
            model_name="trackingevent",
            name="shipment",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="events",
                to="shipments.shipment",
            ),
        ),
        migrations.AlterField(
            model_name="trackingevent",
            name="tenant",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                editable=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="tenancy.tenant",
            ),
        ),
        migrations.RunSQL(SQL, REVERSE),
    ]
