from django.db import migrations

# Events are facts: PostgreSQL itself refuses to change one. Corrections are new events.
SQL = """
CREATE OR REPLACE FUNCTION milepost_refuse_event_update() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'tracking events are immutable; record a correcting event instead'
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER shipments_trackingevent_immutable
    BEFORE UPDATE ON shipments_trackingevent
    FOR EACH ROW EXECUTE FUNCTION milepost_refuse_event_update();
"""
REVERSE = """
DROP TRIGGER IF EXISTS shipments_trackingevent_immutable ON shipments_trackingevent;
DROP FUNCTION IF EXISTS milepost_refuse_event_update();
"""


class Migration(migrations.Migration):
    dependencies = [("shipments", "0001_initial")]
    operations = [migrations.RunSQL(SQL, REVERSE)]
