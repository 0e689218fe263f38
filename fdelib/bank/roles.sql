-- The bank's roles, run through a privileged connection (the embedded server's bootstrap
-- superuser, or DATABASE_ADMIN_URL), never as the role notebooks use, in the transaction that
-- then creates the bank's objects (fdelib.bank.ddl.setup). Settings it reads (set_config, local
-- to that transaction): fdelib.notebook_role -- the role notebooks connect as;
-- fdelib.bank_app_password -- bank_app's password.
--
--   bank_owner  NOLOGIN. Owns schema bank and everything in it; the operations run with its
--               rights (SECURITY DEFINER). Nobody logs in as it; fdelib's privileged connection
--               switches to it (SET ROLE) for set-up and for the lessons' owner demonstrations.
--   bank_app    LOGIN. The application: reads the bank (not customers' national ids) and calls
--               the operations; writes no table.
--   the notebooks' role (POSTGRES_USER, or DATABASE_URL's user) reads the bank as bank_app does
--               and calls the audit; it is neither a member of nor an administrator of either
--               role, so it can neither switch the ledger's triggers off nor replace the audit.
SELECT pg_advisory_xact_lock(hashtext('fdelib.bank.setup'));
SET LOCAL search_path = pg_catalog, pg_temp;   -- a privileged session: nothing from public

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bank_owner') THEN
        CREATE ROLE bank_owner NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bank_app') THEN
        CREATE ROLE bank_app LOGIN;
    END IF;
EXCEPTION WHEN duplicate_object THEN
    NULL;   -- created meanwhile by a set-up of another database of this server
END $$;
-- (new roles are NOSUPERUSER NOCREATEDB NOREPLICATION NOBYPASSRLS by default)
ALTER ROLE bank_owner NOLOGIN NOCREATEROLE NOINHERIT;
DO $$
BEGIN
    EXECUTE format('ALTER ROLE bank_app LOGIN NOCREATEROLE NOINHERIT CONNECTION LIMIT 64 PASSWORD %L',
                   current_setting('fdelib.bank_app_password'));
END $$;
-- The application's sessions look names up in pg_catalog and bank only: not in public (where the
-- notebooks' role may create), nor in a schema named after it ("$user", which the notebooks'
-- role could create, as it may create schemas), so nothing another role made runs as bank_app.
ALTER ROLE bank_app SET search_path = pg_catalog, bank, pg_temp;

-- A privileged login that is not a superuser (DATABASE_ADMIN_URL on another server) needs to be
-- able to SET ROLE bank_owner: to create objects owned by it and to hand it older ones.
DO $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
       AND NOT pg_has_role(current_user, 'bank_owner', 'MEMBER') THEN
        IF current_setting('server_version_num')::int >= 160000 THEN
            EXECUTE format('GRANT bank_owner TO %I WITH INHERIT FALSE, SET TRUE', current_user);
        ELSE
            EXECUTE format('GRANT bank_owner TO %I', current_user);
        END IF;
    END IF;
END $$;

DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO bank_app', current_database());
    IF to_regnamespace('bank') IS NULL THEN
        CREATE SCHEMA bank AUTHORIZATION bank_owner;
    END IF;
END $$;

-- Upgrade: before, the notebooks' role owned schema bank and everything in it (and so could
-- disable the ledger's triggers or replace ledger_breaks()), and had created bank_app (which
-- made it bank_app's administrator). Everything in the schema is handed to bank_owner, and the
-- notebooks' role loses every membership in, and administration of, the bank's roles.
DO $$
DECLARE
    obj record;
    membership record;
BEGIN
    IF (SELECT nspowner FROM pg_namespace WHERE nspname = 'bank') <> 'bank_owner'::regrole THEN
        ALTER SCHEMA bank OWNER TO bank_owner;
    END IF;
    FOR obj IN SELECT c.oid::regclass AS name, c.relkind FROM pg_class c
               WHERE c.relnamespace = 'bank'::regnamespace AND c.relowner <> 'bank_owner'::regrole
                 AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
                 -- a sequence of an identity or serial column follows its table
                 AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                 AND d.objid = c.oid AND d.deptype IN ('a', 'i') AND c.relkind = 'S')
               ORDER BY c.relkind DESC, c.oid LOOP
        EXECUTE format('ALTER %s %s OWNER TO bank_owner',
                       CASE obj.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                                        WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE'
                                        ELSE 'TABLE' END, obj.name);
    END LOOP;
    FOR obj IN SELECT p.oid::regprocedure AS name, p.prokind FROM pg_proc p
               WHERE p.pronamespace = 'bank'::regnamespace AND p.proowner <> 'bank_owner'::regrole LOOP
        EXECUTE format('ALTER %s %s OWNER TO bank_owner',
                       CASE obj.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END,
                       obj.name);
    END LOOP;
    FOR membership IN SELECT r.rolname AS granted, g.rolname AS grantor FROM pg_auth_members m
                      JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles g ON g.oid = m.grantor
                      JOIN pg_roles u ON u.oid = m.member
                      WHERE u.rolname = current_setting('fdelib.notebook_role')
                        AND r.rolname IN ('bank_owner', 'bank_app') LOOP
        EXECUTE format('REVOKE %I FROM %I GRANTED BY %I CASCADE', membership.granted,
                       current_setting('fdelib.notebook_role'), membership.grantor);
    END LOOP;
END $$;

-- What this set-up cannot fix, it says (fdelib turns these warnings into BankPrivilegeWarning).
DO $$
DECLARE
    notebook record;
BEGIN
    SELECT rolname, rolsuper, rolcreaterole INTO notebook FROM pg_roles
    WHERE rolname = current_setting('fdelib.notebook_role');
    IF notebook.rolsuper THEN
        RAISE WARNING 'bank privileges: the notebooks'' role % is a superuser: it can change anything in the bank, its rules included', notebook.rolname
            USING HINT = 'connect notebooks as a role without SUPERUSER (see README, "The full stack with Docker")';
    ELSIF notebook.rolcreaterole AND current_setting('server_version_num')::int < 160000 THEN
        RAISE WARNING 'bank privileges: the notebooks'' role % has CREATEROLE, which before PostgreSQL 16 lets it grant itself bank_owner', notebook.rolname
            USING HINT = format('ALTER ROLE %I NOCREATEROLE', notebook.rolname);
    ELSIF notebook.rolname = current_user THEN
        RAISE WARNING 'bank privileges: the administrator connection logs in as the notebooks'' own role %: the bank''s owner is not separated from it', notebook.rolname
            USING HINT = 'DATABASE_ADMIN_URL must log in as another role than DATABASE_URL';
    END IF;
END $$;
