-- Read access for the learner, table by table, in the course's schemas (`schemas`).
-- A column whose name is in `private` (e.g. national_id) is never granted: such a table is
-- granted column by column, all its other columns. Tables the learner can already read are
-- skipped, so this is cheap to run again; a table the running role may not grant on (its
-- owner is another role, which did not give us GRANT OPTION) is reported as a WARNING and
-- left alone: the role that owns it decides.
SELECT pg_advisory_xact_lock(hashtext('fdelib.practice.learner'));

DO $$
DECLARE
    schema_name text;
    t record;
    readable text;
    every_column boolean;
BEGIN
    FOREACH schema_name IN ARRAY %(schemas)s::text[] LOOP
        IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = schema_name)
           AND NOT has_schema_privilege('learner', schema_name, 'USAGE') THEN
            BEGIN
                EXECUTE format('GRANT USAGE ON SCHEMA %%I TO learner', schema_name);
            EXCEPTION WHEN insufficient_privilege THEN
                RAISE WARNING 'learner: cannot grant USAGE on schema %% (%%)', schema_name, SQLERRM;
            END;
        END IF;
    END LOOP;
    FOR t IN
        SELECT c.oid, n.nspname, c.relname
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY (%(schemas)s::text[])
          AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
          AND NOT has_any_column_privilege('learner', c.oid, 'SELECT')
        ORDER BY n.nspname, c.relname
    LOOP
        SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
                   FILTER (WHERE a.attname <> ALL (%(private)s::text[])),
               bool_and(a.attname <> ALL (%(private)s::text[]))
          INTO readable, every_column
          FROM pg_attribute a
         WHERE a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped;
        BEGIN
            IF every_column THEN
                EXECUTE format('GRANT SELECT ON %%I.%%I TO learner', t.nspname, t.relname);
            ELSIF readable IS NOT NULL THEN
                EXECUTE format('GRANT SELECT (%%s) ON %%I.%%I TO learner', readable, t.nspname, t.relname);
            END IF;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE WARNING 'learner: cannot grant SELECT on %%.%% (%%)', t.nspname, t.relname, SQLERRM;
        END;
    END LOOP;
END $$;
