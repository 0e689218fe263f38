-- Tables of the saga lesson (schema `workflows`). Idempotent: safe to run again.
CREATE SCHEMA IF NOT EXISTS workflows;

CREATE TABLE IF NOT EXISTS workflows.saga_accounts (
    name            text PRIMARY KEY,
    cash            bigint NOT NULL CHECK (cash >= 0),
    shares          bigint NOT NULL CHECK (shares >= 0),
    cash_reserved   bigint NOT NULL CHECK (cash_reserved >= 0),
    shares_reserved bigint NOT NULL CHECK (shares_reserved >= 0)
);

-- Each step and each compensation is recorded once: the idempotency guard, and the
-- orchestrator's single view of where a saga is.
CREATE TABLE IF NOT EXISTS workflows.saga_steps (
    id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    saga  text NOT NULL,
    step  text NOT NULL,
    kind  text NOT NULL CHECK (kind IN ('do', 'undo')),
    UNIQUE (saga, step, kind)
);

-- Choreography's shared event log.
CREATE TABLE IF NOT EXISTS workflows.saga_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    saga       text NOT NULL,
    event      text NOT NULL,
    emitted_by text NOT NULL,
    handled    boolean NOT NULL DEFAULT false
);

-- What a step recorded (the trade date when booked, the settlement date when settled).
ALTER TABLE workflows.saga_steps ADD COLUMN IF NOT EXISTS detail text NOT NULL DEFAULT '';
