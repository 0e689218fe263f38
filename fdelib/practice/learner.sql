-- The learner's role: what a %%sql cell and every exercise check runs as.
-- It reads the course's data (fdelib.practice.learner grants SELECT table by table) and
-- writes only in its own schema `practice`, where it may create tables, constraints,
-- functions and triggers. It owns nothing else, cannot create roles, databases or schemas,
-- and its queries stop after 30 s.
-- Run by the application role when it has CREATEROLE, otherwise by the administrator connection,
-- with the parameters `password` (psycopg2 style; NULL on the embedded server, whose Unix socket
-- trusts local roles) and `member`: the application role, which may act as the learner.
-- (New roles are NOSUPERUSER NOCREATEDB NOREPLICATION NOBYPASSRLS; only roles holding an
-- attribute may change it, and the application role holds none of these.)
-- Idempotent: attributes, settings and grants are re-applied every time.
SELECT pg_advisory_xact_lock(hashtext('fdelib.practice.learner'));

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'learner') THEN
        CREATE ROLE learner LOGIN;
    END IF;
END $$;
ALTER ROLE learner LOGIN NOCREATEROLE NOINHERIT CONNECTION LIMIT 32
    PASSWORD %(password)s;
ALTER ROLE learner SET search_path = practice, public;
ALTER ROLE learner SET statement_timeout = '30s';
ALTER ROLE learner SET idle_in_transaction_session_timeout = '10min';

DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %%I TO learner', current_database());
    -- The application role may act as the learner (a check runs the learner's SQL as the
    -- learner: SET LOCAL ROLE learner) but does not inherit its privileges.
    IF current_setting('server_version_num')::int >= 160000 THEN
        EXECUTE format('GRANT learner TO %%I WITH INHERIT FALSE, SET TRUE', %(member)s);
    ELSE
        EXECUTE format('GRANT learner TO %%I', %(member)s);
    END IF;
END $$;

CREATE SCHEMA IF NOT EXISTS practice AUTHORIZATION learner;
