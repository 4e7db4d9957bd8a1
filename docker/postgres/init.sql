-- Runs once, when the postgres container initialises an empty data directory
-- (docker-entrypoint-initdb.d), connected as POSTGRES_USER (milepost_owner) to POSTGRES_DB.
--
-- Two roles on one database (see config/settings.py):
--   milepost_owner  owns the database and schema; `manage.py migrate --database=owner` runs as
--                   it and re-applies row-level security and the app role's grants after every
--                   migrate (tenancy/rls.py).
--   milepost_app    what web/ws/worker/beat connect as: not superuser, not owner and without
--                   BYPASSRLS, so PostgreSQL row-level security applies to every query.
--
-- The password comes from the container's environment (MILEPOST_APP_DB_PASSWORD), read with
-- psql's \getenv so it is never written into this file.
\set ON_ERROR_STOP on
\getenv app_password MILEPOST_APP_DB_PASSWORD
\if :{?app_password}
\else
DO $$ BEGIN RAISE EXCEPTION 'MILEPOST_APP_DB_PASSWORD is not set in the postgres container'; END $$;
\endif

CREATE ROLE milepost_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'app_password';

-- The database and its public schema belong to the owner role, never to the app role.
ALTER DATABASE :"DBNAME" OWNER TO milepost_owner;
ALTER SCHEMA public OWNER TO milepost_owner;
REVOKE ALL ON DATABASE :"DBNAME" FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

GRANT CONNECT, TEMPORARY ON DATABASE :"DBNAME" TO milepost_app;
GRANT USAGE ON SCHEMA public TO milepost_app;
-- Table and sequence privileges are granted by tenancy.rls.apply_rls after each migrate, which
-- also creates (as the owner) pgcrypto and the schema milepost_private holding the key of the
-- signed RLS context: the app role gets no privilege on that schema, ever.

-- Other backends' query text is not for the app role: all backends of one role see each
-- other's current statements, literals included (session keys, webhook tokens: Django binds
-- parameters client-side).
REVOKE SELECT ON pg_catalog.pg_stat_activity FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION pg_catalog.pg_stat_get_activity(integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION pg_catalog.pg_stat_get_backend_activity(integer) FROM PUBLIC;
