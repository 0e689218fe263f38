-- The market-data ETL (schema `etl`). Idempotent.
SELECT pg_advisory_xact_lock(hashtext('fdelib.etl.setup'));

CREATE SCHEMA IF NOT EXISTS etl;

-- one row per pipeline run: what was asked, what came of it
CREATE TABLE IF NOT EXISTS etl.runs (
    run_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    symbol      text NOT NULL,
    month       text NOT NULL CHECK (month ~ '^\d{4}-(0[1-9]|1[0-2])$'),
    interval    text NOT NULL,
    status      text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz,
    api_calls   integer,
    raw_rows    integer,
    duplicates  integer,
    daily_rows  integer,
    gaps        integer,
    error       text
);

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
    CONSTRAINT raw_intraday_range CHECK (low <= high AND low > 0)
);
ALTER TABLE etl.raw_intraday DROP CONSTRAINT IF EXISTS raw_intraday_run_id_fkey;   -- an earlier version had it
-- what deduplication reads: a symbol's bars in a time window (small: loads stay fast)
CREATE INDEX IF NOT EXISTS raw_intraday_symbol_time_idx ON etl.raw_intraday (symbol, bar_time);
DROP INDEX IF EXISTS etl.raw_intraday_bar_idx;   -- the wider index of an earlier version

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

-- step 4: the data product, daily OHLCV per symbol and NYSE session
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
