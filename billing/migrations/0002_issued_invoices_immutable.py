"""Issued invoices are immutable: a trigger refuses any UPDATE of an issued invoice and any
INSERT, UPDATE or DELETE of the lines of an issued invoice. (Deleting a whole tenant's rows
stays possible: the invoice row itself may be deleted.)"""

from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION billing_refuse_issued_invoice() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'issued' THEN
        RAISE EXCEPTION 'invoice % is issued: it is immutable', OLD.number
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER billing_invoice_immutable BEFORE UPDATE ON billing_invoice
FOR EACH ROW EXECUTE FUNCTION billing_refuse_issued_invoice();

CREATE OR REPLACE FUNCTION billing_refuse_issued_line() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    target bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        target := OLD.invoice_id;
    ELSE
        target := NEW.invoice_id;
    END IF;
    IF EXISTS (SELECT 1 FROM billing_invoice i WHERE i.id = target AND i.status = 'issued')
       OR (TG_OP = 'UPDATE' AND EXISTS (
           SELECT 1 FROM billing_invoice i WHERE i.id = OLD.invoice_id AND i.status = 'issued'))
    THEN
        RAISE EXCEPTION 'the lines of an issued invoice are immutable'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER billing_invoiceline_immutable BEFORE INSERT OR UPDATE OR DELETE
ON billing_invoiceline FOR EACH ROW EXECUTE FUNCTION billing_refuse_issued_line();
"""

REVERSE = """
DROP TRIGGER IF EXISTS billing_invoiceline_immutable ON billing_invoiceline;
DROP TRIGGER IF EXISTS billing_invoice_immutable ON billing_invoice;
DROP FUNCTION IF EXISTS billing_refuse_issued_line();
DROP FUNCTION IF EXISTS billing_refuse_issued_invoice();
"""


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
