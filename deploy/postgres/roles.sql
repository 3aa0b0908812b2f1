-- The two SmartCoders roles and the database, created once by a superuser (ADR 0002):
--   smartcoders_owner  owns the database, its public schema and every object: `smartcoders migrate`
--   smartcoders_app    the web and worker processes: owns nothing, NOSUPERUSER, NOBYPASSRLS
-- The statements of datalayer/embedded.py bootstrap_roles, plus passwords. Safe to run again.
--
-- Reads three environment variables (never the command line, which `ps` shows):
--   SMARTCODERS_DB_NAME, SMARTCODERS_OWNER_DB_PASSWORD, SMARTCODERS_APP_DB_PASSWORD
-- Run by init-roles.sh in the compose db container on its first start, or by a DBA:
--   psql -X -d postgres -f deploy/postgres/roles.sql
\set ON_ERROR_STOP on
\getenv dbname SMARTCODERS_DB_NAME
\getenv owner_password SMARTCODERS_OWNER_DB_PASSWORD
\getenv app_password SMARTCODERS_APP_DB_PASSWORD
\if :{?dbname}
\else
  DO $$ BEGIN RAISE EXCEPTION 'roles.sql: set SMARTCODERS_DB_NAME'; END $$;
\endif
\if :{?owner_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'roles.sql: set SMARTCODERS_OWNER_DB_PASSWORD'; END $$;
\endif
\if :{?app_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'roles.sql: set SMARTCODERS_APP_DB_PASSWORD'; END $$;
\endif

SELECT 'CREATE ROLE smartcoders_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'smartcoders_owner') \gexec
SELECT 'CREATE ROLE smartcoders_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'smartcoders_app') \gexec
SELECT format('ALTER ROLE smartcoders_owner PASSWORD %L', :'owner_password') \gexec
SELECT format('ALTER ROLE smartcoders_app PASSWORD %L', :'app_password') \gexec

SELECT format('CREATE DATABASE %I OWNER smartcoders_owner', :'dbname')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'dbname') \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO smartcoders_app', :'dbname') \gexec

\connect :dbname
ALTER SCHEMA public OWNER TO smartcoders_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
