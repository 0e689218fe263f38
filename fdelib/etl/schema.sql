-- The market-data ETL (schema `etl`). Idempotent: run before every pipeline run, on a fresh
-- database or on one an earlier version set up (constraints and columns are added only when
-- missing). Steady state takes no table lock: ALTER TABLE and CREATE INDEX (even with IF NOT
-- EXISTS) lock their table, so they run only when the catalog says there is something to do —
-- a run starting never waits for another run's open transaction.
SELECT pg_advisory_xact_lock(hashtext('fdelib.etl.setup'));

CREATE SCHEMA IF NOT EXISTS etl;

-- one row per pipeline run: what was asked (its parameters), what came of it (counts, status),
-- and which bars its raw load holds (first_bar..last_bar: deduplication finds loads by them).
-- 'abandoned': left 'running' by a process that is gone (found by a later run, see pipeline.Run);
-- 'unchanged': the month's standing load came from the same answer, so nothing was written
CREATE TABLE IF NOT EXISTS etl.runs (
    run_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    symbol      text NOT NULL,
    month       text NOT NULL CHECK (month ~ '^\d{4}-(0[1-9]|1[0-2])$'),
    interval    text NOT NULL,
    status      text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz,
    api_calls   integer,
    raw_rows    integer,
    duplicates  integer,
    daily_rows  integer,
    gaps        integer,
    error       text,
    extended_hours boolean NOT NULL DEFAULT false,
    adjusted    boolean NOT NULL DEFAULT false,   -- split/dividend-adjusted prices (as traded: false)
    first_bar   timestamptz,       -- set with the raw load,
    last_bar    timestamptz,       -- in its transaction
    payload_sha256 text,           -- the answer it loaded (see 'unchanged' below)
    CONSTRAINT runs_status_check CHECK (status IN ('running', 'succeeded', 'unchanged', 'failed', 'abandoned'))
);
DO $$
BEGIN
    -- earlier versions: no extended_hours, first_bar, last_bar; a status check without 'abandoned'
    IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'etl.runs'::regclass
                   AND attname = 'extended_hours' AND NOT attisdropped) THEN
        ALTER TABLE etl.runs ADD COLUMN extended_hours boolean NOT NULL DEFAULT false;
    END IF;
    -- earlier versions fetched adjusted prices, always (the runs they recorded say so)
    IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'etl.runs'::regclass
                   AND attname = 'adjusted' AND NOT attisdropped) THEN
        ALTER TABLE etl.runs ADD COLUMN adjusted boolean NOT NULL DEFAULT true;
        ALTER TABLE etl.runs ALTER COLUMN adjusted SET DEFAULT false;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'etl.runs'::regclass
                   AND attname = 'first_bar' AND NOT attisdropped) THEN
        ALTER TABLE etl.runs ADD COLUMN first_bar timestamptz, ADD COLUMN last_bar timestamptz;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_constraint WHERE conrelid = 'etl.runs'::regclass
                   AND conname = 'runs_status_check' AND pg_get_constraintdef(oid) LIKE '%abandoned%') THEN
        ALTER TABLE etl.runs DROP CONSTRAINT IF EXISTS runs_status_check;
        ALTER TABLE etl.runs ADD CONSTRAINT runs_status_check
            CHECK (status IN ('running', 'succeeded', 'failed', 'abandoned'));
    END IF;
    -- a load's provenance: the digest of the answer it loaded (a run that finds the month's
    -- standing load came from the same answer records itself 'unchanged' and writes nothing)
    IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'etl.runs'::regclass
                   AND attname = 'payload_sha256' AND NOT attisdropped) THEN
        ALTER TABLE etl.runs ADD COLUMN payload_sha256 text;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_constraint WHERE conrelid = 'etl.runs'::regclass
                   AND conname = 'runs_status_check' AND pg_get_constraintdef(oid) LIKE '%unchanged%') THEN
        ALTER TABLE etl.runs DROP CONSTRAINT IF EXISTS runs_status_check;
        ALTER TABLE etl.runs ADD CONSTRAINT runs_status_check
            CHECK (status IN ('running', 'succeeded', 'unchanged', 'failed', 'abandoned'));
    END IF;
    IF to_regclass('etl.runs_loads_idx') IS NULL THEN
        CREATE INDEX runs_loads_idx ON etl.runs (symbol, interval, first_bar, last_bar);
    END IF;
    -- the runs a starting run checks for a process that is gone (few, however long the log)
    IF to_regclass('etl.runs_running_idx') IS NULL THEN
        CREATE INDEX runs_running_idx ON etl.runs (run_id) WHERE status = 'running';
    END IF;
END $$;

-- step 2: raw bars exactly as fetched, append-only, with the time they were ingested
CREATE TABLE IF NOT EXISTS etl.raw_intraday (
    symbol      text NOT NULL,
    interval    text NOT NULL,
    bar_time    timestamptz NOT NULL,
    open        numeric(18,4) NOT NULL,
    high        numeric(18,4) NOT NULL,
    low         numeric(18,4) NOT NULL,
    close       numeric(18,4) NOT NULL,
    volume      bigint NOT NULL CHECK (volume >= 0),
    ingested_at timestamptz NOT NULL DEFAULT now(),      -- one instant per load (its transaction)
    run_id      bigint NOT NULL,    -- etl.runs; no foreign key: a per-row check would halve COPY's speed
    -- positive prices, low <= high, and no 'NaN' (numeric accepts it; NaN sorts above every number)
    CONSTRAINT raw_intraday_values CHECK (low > 0 AND low <= high AND open + high + close < 'NaN'),
    -- open and close inside the bar's range (so positive too)
    CONSTRAINT raw_intraday_open_close CHECK (open BETWEEN low AND high AND close BETWEEN low AND high)
);
DO $$
BEGIN
    -- earlier versions: a foreign key to etl.runs, a weaker check (altered only when present:
    -- ALTER TABLE locks the table even when it has nothing to do)
    IF EXISTS (SELECT FROM pg_constraint WHERE conrelid = 'etl.raw_intraday'::regclass
               AND conname IN ('raw_intraday_run_id_fkey', 'raw_intraday_range')) THEN
        ALTER TABLE etl.raw_intraday DROP CONSTRAINT IF EXISTS raw_intraday_run_id_fkey;
        ALTER TABLE etl.raw_intraday DROP CONSTRAINT IF EXISTS raw_intraday_range;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_constraint WHERE conrelid = 'etl.raw_intraday'::regclass
                   AND conname = 'raw_intraday_values') THEN
        ALTER TABLE etl.raw_intraday ADD CONSTRAINT raw_intraday_values
            CHECK (low > 0 AND low <= high AND open + high + close < 'NaN');
    END IF;
    -- earlier versions did not check open and close. NOT VALID: every new row is checked, the
    -- rows already loaded are not scanned (ALTER TABLE etl.raw_intraday VALIDATE CONSTRAINT
    -- raw_intraday_open_close checks them, and fails if an earlier version let a bad one in)
    IF NOT EXISTS (SELECT FROM pg_constraint WHERE conrelid = 'etl.raw_intraday'::regclass
                   AND conname = 'raw_intraday_open_close') THEN
        ALTER TABLE etl.raw_intraday ADD CONSTRAINT raw_intraday_open_close
            CHECK (open BETWEEN low AND high AND close BETWEEN low AND high) NOT VALID;
    END IF;
    -- deduplication reads a symbol's loads by run_id: rows arrive in run order, so a BRIN index
    -- (a few bytes per 128 kB of table, nearly free to maintain) finds them; a B-tree on
    -- (symbol, bar_time) would halve the speed of every load
    IF to_regclass('etl.raw_intraday_run_idx') IS NULL THEN
        CREATE INDEX raw_intraday_run_idx ON etl.raw_intraday USING brin (run_id)
            WITH (pages_per_range = 16);
    END IF;
    -- an earlier version: B-tree indexes, and loads that did not record their bars' range
    -- (derived once, here, before its index goes)
    IF to_regclass('etl.raw_intraday_symbol_time_idx') IS NOT NULL
       OR to_regclass('etl.raw_intraday_bar_idx') IS NOT NULL THEN
        UPDATE etl.runs r SET first_bar = b.first_bar, last_bar = b.last_bar
        FROM (SELECT run_id, min(bar_time) AS first_bar, max(bar_time) AS last_bar
              FROM etl.raw_intraday GROUP BY run_id) b
        WHERE r.run_id = b.run_id AND r.first_bar IS NULL;
        DROP INDEX IF EXISTS etl.raw_intraday_symbol_time_idx;
        DROP INDEX IF EXISTS etl.raw_intraday_bar_idx;
    END IF;
END $$;

-- step 3: deduplicated bars, one per (symbol, interval, bar_time): the latest ingestion wins
CREATE TABLE IF NOT EXISTS etl.intraday (
    symbol      text NOT NULL,
    interval    text NOT NULL,
    bar_time    timestamptz NOT NULL,
    open        numeric(18,4) NOT NULL,
    high        numeric(18,4) NOT NULL,
    low         numeric(18,4) NOT NULL,
    close       numeric(18,4) NOT NULL,
    volume      bigint NOT NULL,
    ingested_at timestamptz NOT NULL,
    PRIMARY KEY (symbol, interval, bar_time)
);

-- step 4: the data product, daily OHLCV per symbol and NYSE session (the regular session:
-- every bar that overlaps it and the closing auction's bar at the close, see fdelib/etl/sessions.py)
CREATE TABLE IF NOT EXISTS etl.daily (
    symbol   text NOT NULL,
    session  date NOT NULL,
    open     numeric(18,4) NOT NULL,
    high     numeric(18,4) NOT NULL,
    low      numeric(18,4) NOT NULL,
    close    numeric(18,4) NOT NULL,
    volume   bigint NOT NULL,
    bars     integer NOT NULL,
    interval text NOT NULL,                               -- the bars it was built from
    PRIMARY KEY (symbol, session)
);
