-- The course database's ownership and schema public, run through a privileged connection (the
-- embedded server's bootstrap superuser: fdelib.stack, at every start of a database that needs
-- it; DATABASE_ADMIN_URL on another server: fdelib.bank.ddl.setup, before roles.sql), in the
-- transaction of its caller. Setting it reads (set_config, local to that transaction):
-- fdelib.notebook_role -- the role notebooks connect as. Idempotent.
--
--   course_owner  NOLOGIN. Owns the course database. Nobody logs in as it. The owner of a
--                 database may ALTER DATABASE ... SET search_path (and any setting) for every
--                 role that connects, and owns schema public (pg_database_owner): when the
--                 notebooks' role owned the database, it could make every session, bank_app's
--                 too, resolve names and operators through public first, and so blind the
--                 ledger's audit.
--   the notebooks' role keeps CONNECT, CREATE (its projects create their schemas: etl, oms,
--                 conductor, ...) and TEMPORARY on the database, and CREATE on public, where
--                 the lessons keep their small tables (start_here_prices, etl_bars, ...).
--   PUBLIC, bank_app, bank_owner and learner may create nothing in public.
SELECT pg_advisory_xact_lock(hashtext('fdelib.database'));
SET LOCAL search_path = pg_catalog, pg_temp;   -- a privileged session: nothing from public

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'course_owner') THEN
        CREATE ROLE course_owner NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object THEN
    NULL;   -- created meanwhile by the set-up of another database of this server
END $$;

DO $$
DECLARE
    notebooks text := current_setting('fdelib.notebook_role');
    owner_now text := (SELECT pg_get_userbyid(d.datdba) FROM pg_database d WHERE d.datname = current_database());
    someone text;
BEGIN
    IF (SELECT NOT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user)
       AND NOT pg_has_role(current_user, 'course_owner',
                           CASE WHEN current_setting('server_version_num')::int >= 160000 THEN 'SET' ELSE 'MEMBER' END) THEN
        -- a privileged login that is not a superuser must be able to SET ROLE course_owner
        -- to hand it the database
        BEGIN
            IF current_setting('server_version_num')::int >= 160000 THEN
                EXECUTE format('GRANT course_owner TO %I WITH INHERIT FALSE, SET TRUE', current_user);
            ELSE
                EXECUTE format('GRANT course_owner TO %I', current_user);
            END IF;
        EXCEPTION WHEN insufficient_privilege THEN
            NULL;   -- (created by another login): handing it the database fails below, and says so
        END;
    END IF;
    IF owner_now IS DISTINCT FROM 'course_owner' THEN
        BEGIN
            EXECUTE format('ALTER DATABASE %I OWNER TO course_owner', current_database());
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE WARNING 'bank privileges: the course database is owned by %, which can ALTER DATABASE % SET search_path for every role (%)', owner_now, current_database(), SQLERRM
                USING HINT = format('as a superuser: ALTER DATABASE %I OWNER TO course_owner', current_database());
        END;
    END IF;
    IF (SELECT NOT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user)
       AND (SELECT pg_get_userbyid(d.datdba) FROM pg_database d WHERE d.datname = current_database()) = 'course_owner' THEN
        EXECUTE 'SET LOCAL ROLE course_owner';   -- grants on the database and on public are its owner's
    END IF;
    EXECUTE format('GRANT CONNECT, CREATE, TEMPORARY ON DATABASE %I TO %I', current_database(), notebooks);
    -- a search_path for the whole database (what the notebooks' role could set while it owned it)
    IF EXISTS (SELECT 1 FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
               WHERE d.datname = current_database() AND s.setrole = 0
                 AND EXISTS (SELECT 1 FROM unnest(s.setconfig) c(setting) WHERE c.setting LIKE 'search\_path=%')) THEN
        EXECUTE format('ALTER DATABASE %I RESET search_path', current_database());
        RAISE WARNING 'bank privileges: the course database had a search_path of its own for every role; it is reset'
            USING HINT = 'nothing to do: the bank''s functions and roles set their own';
    END IF;
    IF to_regnamespace('public') IS NOT NULL THEN
        BEGIN
            REVOKE CREATE ON SCHEMA public FROM PUBLIC;   -- (PostgreSQL before 15 granted it)
            FOREACH someone IN ARRAY ARRAY['bank_app', 'bank_owner', 'learner'] LOOP
                IF EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = someone) AND someone <> notebooks THEN
                    EXECUTE format('REVOKE CREATE ON SCHEMA public FROM %I', someone);
                END IF;
            END LOOP;
            EXECUTE format('GRANT USAGE, CREATE ON SCHEMA public TO %I', notebooks);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE WARNING 'bank privileges: cannot restrict CREATE on schema public (%)', SQLERRM
                USING HINT = 'as a superuser: REVOKE CREATE ON SCHEMA public FROM PUBLIC';
        END;
    END IF;
    EXECUTE 'RESET ROLE';
END $$;
