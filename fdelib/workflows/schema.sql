-- Tables of the workflow lessons (schema `workflows`). Idempotent: safe to run again.
CREATE SCHEMA IF NOT EXISTS workflows;

-- Section 1: the same load done idempotently (keyed upsert) and not (plain append).
CREATE TABLE IF NOT EXISTS workflows.prices_append (
    symbol text NOT NULL, day date NOT NULL, close numeric(12,2) NOT NULL
);
CREATE TABLE IF NOT EXISTS workflows.prices_upsert (
    symbol text NOT NULL, day date NOT NULL, close numeric(12,2) NOT NULL,
    PRIMARY KEY (symbol, day)
);

-- Section 4: one append-only event log (Kappa's only store; Lambda's master dataset).
CREATE TABLE IF NOT EXISTS workflows.trade_events (
    "offset"    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    trade_id    text          NOT NULL,
    symbol      text          NOT NULL,
    event_time  timestamptz   NOT NULL,   -- when the trade happened
    arrival     integer       NOT NULL,   -- when it reached us (tick of the demo clock)
    price       numeric(12,4) NOT NULL CHECK (price > 0),
    quantity    integer       NOT NULL CHECK (quantity > 0),
    is_correction boolean     NOT NULL DEFAULT false
);

-- Lambda: batch views (recomputed from all events) and speed views (increments since).
CREATE TABLE IF NOT EXISTS workflows.lambda_batch_view (
    symbol text NOT NULL, minute timestamptz NOT NULL, volume bigint NOT NULL,
    notional numeric(18,4) NOT NULL, last_offset bigint NOT NULL,
    PRIMARY KEY (symbol, minute)
);
CREATE TABLE IF NOT EXISTS workflows.lambda_speed_view (
    symbol text NOT NULL, minute timestamptz NOT NULL, volume bigint NOT NULL,
    notional numeric(18,4) NOT NULL,
    PRIMARY KEY (symbol, minute)
);
-- Kappa: one view, rebuilt by replaying the log; the consumer's position is stored.
CREATE TABLE IF NOT EXISTS workflows.kappa_view (
    symbol text NOT NULL, minute timestamptz NOT NULL, volume bigint NOT NULL,
    notional numeric(18,4) NOT NULL,
    PRIMARY KEY (symbol, minute)
);
CREATE TABLE IF NOT EXISTS workflows.consumer_offsets (
    consumer text PRIMARY KEY, last_offset bigint NOT NULL
);

-- Section 6: the model registry: a model is registered only with its metrics and data.
CREATE TABLE IF NOT EXISTS workflows.model_registry (
    model      text        NOT NULL,
    version    integer     NOT NULL,
    trained_as_of date     NOT NULL,
    data_hash  text        NOT NULL,
    metrics    jsonb       NOT NULL,
    params     jsonb       NOT NULL,
    PRIMARY KEY (model, version)
);
-- Whether the model beat the naive baseline on its test days: only such a model is served.
ALTER TABLE workflows.model_registry ADD COLUMN IF NOT EXISTS beats_baseline boolean NOT NULL DEFAULT false;
-- Section 6, deployment: the fitted model itself (scaler and coefficients, as JSON: what serving
-- loads), and when monitoring retired it (a drifted model is never served again).
ALTER TABLE workflows.model_registry ADD COLUMN IF NOT EXISTS model_json jsonb;
ALTER TABLE workflows.model_registry ADD COLUMN IF NOT EXISTS retired_on date;
ALTER TABLE workflows.model_registry ADD COLUMN IF NOT EXISTS retired_reason text;
-- What the served model predicted each day, and what happened (the monitored metric's input).
CREATE TABLE IF NOT EXISTS workflows.model_predictions (
    model     text    NOT NULL,
    version   integer NOT NULL,
    day       date    NOT NULL,
    predicted integer NOT NULL CHECK (predicted IN (0, 1)),
    actual    integer NOT NULL CHECK (actual IN (0, 1)),
    PRIMARY KEY (model, version, day)
);
