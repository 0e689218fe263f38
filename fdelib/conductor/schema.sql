-- The local workflow engine's state (schema `conductor`). Idempotent.
-- Times are epoch milliseconds, as in Conductor's JSON.
SELECT pg_advisory_xact_lock(hashtext('fdelib.conductor.setup'));

CREATE SCHEMA IF NOT EXISTS conductor;

CREATE TABLE IF NOT EXISTS conductor.task_defs (
    name        text PRIMARY KEY,
    body        jsonb NOT NULL,
    update_time bigint NOT NULL
);

CREATE TABLE IF NOT EXISTS conductor.workflow_defs (
    name        text NOT NULL,
    version     integer NOT NULL CHECK (version >= 1),
    body        jsonb NOT NULL,
    update_time bigint NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE IF NOT EXISTS conductor.workflows (
    workflow_id         text PRIMARY KEY,
    name                text NOT NULL,
    version             integer NOT NULL,
    status              text NOT NULL CHECK (status IN
                            ('RUNNING', 'COMPLETED', 'FAILED', 'TIMED_OUT', 'TERMINATED', 'PAUSED')),
    definition          jsonb NOT NULL,            -- the definition this run follows
    input               jsonb NOT NULL,
    output              jsonb NOT NULL DEFAULT '{}',
    variables           jsonb NOT NULL DEFAULT '{}',
    correlation_id      text,
    request_id          text,
    priority            integer NOT NULL DEFAULT 0,
    reason              text,
    failed_refs         jsonb NOT NULL DEFAULT '[]',
    failed_task_id      text,
    parent_workflow_id  text,                      -- set on a failure workflow: the one that failed
    timeout_seconds     bigint NOT NULL DEFAULT 0,
    create_time         bigint NOT NULL,
    update_time         bigint NOT NULL,
    end_time            bigint
);
-- when the workflow was last retried (0: never); its timeout counts from then, as in Conductor
ALTER TABLE conductor.workflows ADD COLUMN IF NOT EXISTS last_retried_time bigint NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS workflows_running_idx ON conductor.workflows (create_time)
    WHERE status = 'RUNNING';
CREATE INDEX IF NOT EXISTS workflows_name_idx ON conductor.workflows (name, create_time);

CREATE TABLE IF NOT EXISTS conductor.tasks (
    task_id                  text PRIMARY KEY,
    workflow_id              text NOT NULL REFERENCES conductor.workflows ON DELETE CASCADE,
    seq                      integer NOT NULL,
    ref                      text NOT NULL,
    task_type                text NOT NULL,
    task_def_name            text NOT NULL,
    status                   text NOT NULL CHECK (status IN ('SCHEDULED', 'IN_PROGRESS', 'COMPLETED',
                                 'COMPLETED_WITH_ERRORS', 'FAILED', 'FAILED_WITH_TERMINAL_ERROR',
                                 'TIMED_OUT', 'CANCELED', 'SKIPPED')),
    workflow_task            jsonb NOT NULL,
    input                    jsonb NOT NULL DEFAULT '{}',
    output                   jsonb NOT NULL DEFAULT '{}',
    retry_count              integer NOT NULL DEFAULT 0,
    retried                  boolean NOT NULL DEFAULT false,
    executed                 boolean NOT NULL DEFAULT false,
    retried_task_id          text,
    poll_count               integer NOT NULL DEFAULT 0,
    worker_id                text,
    reason                   text,
    callback_after_seconds   bigint NOT NULL DEFAULT 0,
    response_timeout_seconds bigint NOT NULL DEFAULT 0,
    timeout_seconds          bigint NOT NULL DEFAULT 0,
    queued                   boolean NOT NULL DEFAULT false,   -- waiting in its task type's queue
    visible_at               bigint,                            -- not polled before this time
    scheduled_time           bigint NOT NULL,
    start_time               bigint,
    end_time                 bigint,
    update_time              bigint NOT NULL,
    UNIQUE (workflow_id, seq)
);
CREATE INDEX IF NOT EXISTS tasks_queue_idx ON conductor.tasks (task_def_name, visible_at) WHERE queued;
CREATE INDEX IF NOT EXISTS tasks_running_idx ON conductor.tasks (update_time)
    WHERE status = 'IN_PROGRESS' AND NOT queued;
-- tasks with a timeoutSeconds, for the sweep (IN_PROGRESS ones waiting for a callback included)
CREATE INDEX IF NOT EXISTS tasks_timeout_idx ON conductor.tasks (start_time)
    WHERE status = 'IN_PROGRESS' AND timeout_seconds > 0;

CREATE TABLE IF NOT EXISTS conductor.task_logs (
    task_id      text NOT NULL,
    log          text NOT NULL,
    created_time bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS task_logs_task_idx ON conductor.task_logs (task_id, created_time);
-- timeoutSeconds also runs for a task waiting (SCHEDULED) for its callback
CREATE INDEX IF NOT EXISTS tasks_pending_timeout_idx ON conductor.tasks (start_time)
    WHERE status IN ('IN_PROGRESS', 'SCHEDULED') AND timeout_seconds > 0;
-- GET /workflow/search: pages of runs by start time, filtered by status, type or correlation id
CREATE INDEX IF NOT EXISTS workflows_start_idx ON conductor.workflows (create_time, workflow_id);
CREATE INDEX IF NOT EXISTS workflows_status_idx ON conductor.workflows (status, create_time);
CREATE INDEX IF NOT EXISTS workflows_correlation_idx ON conductor.workflows (correlation_id);
