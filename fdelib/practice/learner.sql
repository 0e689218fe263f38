-- The learner's role: what a %%sql cell and every exercise check LOGS IN as.
-- It reads the course's data (fdelib.practice.learner grants SELECT table by table) and
-- writes only in its own schema `practice` and in a check's scratch schema (granted per
-- check), where it may create tables, constraints, functions and triggers.
--
-- The sandbox is this role, not the text of an answer: the learner is a member of no role,
-- so SET ROLE, SET SESSION AUTHORIZATION, set_config('role', ...) and RESET lead nowhere
-- (they may only name roles the *session* user, learner, belongs to). It holds no attribute
-- (superuser, createrole, createdb, replication, bypassrls) and owns nothing but `practice`.
-- The application role (`app_role`) is a member of learner the other way round, WITH
-- INHERIT TRUE, SET FALSE: it may watch, cancel and end the learner's sessions and drop what
-- the learner left in a scratch schema, but never becomes the learner.
--
-- Limits below are the server's defaults for the role. A role may SET its own, so the check
-- also enforces its deadline from outside (fdelib.practice.sandbox).
--
-- Run by the privileged set-up login (the embedded server's bootstrap superuser, or
-- DATABASE_ADMIN_URL; the application role itself only where it holds CREATEROLE) with the
-- parameters `password` (psycopg2 style: the generated one kept in $FDE_HOME) and `app_role`.
-- Idempotent: attributes, settings, memberships and grants are re-applied every time.
SELECT pg_advisory_xact_lock(hashtext('fdelib.practice.learner'));

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'learner') THEN
        CREATE ROLE learner LOGIN;
    END IF;
END $$;
ALTER ROLE learner LOGIN NOCREATEROLE NOCREATEDB NOINHERIT NOREPLICATION CONNECTION LIMIT 32
    PASSWORD %(password)s;
ALTER ROLE learner SET search_path = practice, public;
ALTER ROLE learner SET statement_timeout = '30s';
ALTER ROLE learner SET lock_timeout = '10s';
ALTER ROLE learner SET idle_in_transaction_session_timeout = '1min';

DO $$
DECLARE
    m record;
BEGIN
    -- a backend waiting on a client that has gone (a killed checker) ends within a second
    IF current_setting('server_version_num')::int >= 140000 THEN
        ALTER ROLE learner SET client_connection_check_interval = '1s';
    END IF;
    -- membership of any role would be a way out: none (e.g. one granted by hand)
    FOR m IN
        SELECT r.rolname AS parent, g.rolname AS grantor
        FROM pg_auth_members am
        JOIN pg_roles r ON r.oid = am.roleid
        JOIN pg_roles g ON g.oid = am.grantor
        WHERE am.member = 'learner'::regrole
    LOOP
        IF current_setting('server_version_num')::int >= 160000 THEN
            EXECUTE format('REVOKE %%I FROM learner GRANTED BY %%I CASCADE', m.parent, m.grantor);
        ELSE
            EXECUTE format('REVOKE %%I FROM learner CASCADE', m.parent);
        END IF;
    END LOOP;
    EXECUTE format('GRANT CONNECT ON DATABASE %%I TO learner', current_database());
    IF current_setting('server_version_num')::int >= 160000 THEN
        EXECUTE format('GRANT learner TO %%I WITH INHERIT TRUE, SET FALSE', %(app_role)s::text);
    ELSE
        EXECUTE format('GRANT learner TO %%I', %(app_role)s::text);
    END IF;
END $$;

CREATE SCHEMA IF NOT EXISTS practice AUTHORIZATION learner;
