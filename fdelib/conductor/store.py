"""The local engine's state in PostgreSQL (schema ``conductor``): definitions, runs, queues.

A run is loaded and saved inside one transaction that holds its workflow's row lock (and
its tasks'), so two engine processes on one database never decide the same workflow at
once. A task type's queue is its tasks with ``queued``; workers claim them with
``FOR UPDATE SKIP LOCKED`` (Conductor's QueueDAO.pop plus ExecutionService.poll: the task
becomes IN_PROGRESS, its poll count grows, its ``callbackAfterSeconds`` is reset).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extras
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from .. import db
from .decider import TASK_COLUMNS, NotFound, Run
from .search import Search

SCHEMA_SQL = Path(__file__).with_name("schema.sql")
JSON_COLUMNS = frozenset({"workflow_task", "input", "output", "definition", "variables", "failed_refs"})
WORKFLOW_COLUMNS = (
    "workflow_id",
    "name",
    "version",
    "status",
    "definition",
    "input",
    "output",
    "variables",
    "correlation_id",
    "request_id",
    "priority",
    "reason",
    "failed_refs",
    "failed_task_id",
    "parent_workflow_id",
    "timeout_seconds",
    "create_time",
    "update_time",
    "end_time",
    "last_retried_time",
)

# the search's tables, for SQLAlchemy Core (the columns it reads)
_W = sa.table(
    "workflows",
    *(sa.column(c, JSONB) if c in JSON_COLUMNS else sa.column(c) for c in WORKFLOW_COLUMNS),
    schema="conductor",
)
_T = sa.table("tasks", sa.column("workflow_id"), sa.column("ref"), sa.column("task_def_name"), schema="conductor")
SUMMARY_COLUMNS = [c for c in WORKFLOW_COLUMNS if c not in ("definition", "variables", "request_id")]


def _classifier():
    """WorkflowClassifier.classifierOf(the run's definition): metadata.classifier, else
    "agent" for an agent SDK's definition, else "workflow"."""
    meta = _W.c.definition["metadata"]
    return sa.func.coalesce(
        sa.func.nullif(meta["classifier"].astext, ""),
        sa.case(
            (sa.or_(meta.has_key("agent_sdk"), meta.has_key("agentDef")), "agent"),
            else_="workflow",
        ),
    )


def _search_column(field: str):
    """The SQL expression a search field names (snake case, see :mod:`.search`)."""
    w = _W.c
    return {
        "workflow_id": w.workflow_id,
        "correlation_id": w.correlation_id,
        "workflow_type": w.name,
        "start_time": w.create_time,
        "end_time": sa.func.coalesce(w.end_time, 0),  # a running workflow's: the epoch, as Conductor
        "update_time": w.update_time,
        "status": w.status,
        "parent_workflow_id": sa.func.coalesce(w.parent_workflow_id, ""),
        "classifier": _classifier(),
        "json_data": _search_text(),
    }[field]


def _search_text():
    """What free text is looked for in: the run's summary values, lower case."""
    w = _W.c
    return sa.func.lower(
        sa.func.concat_ws(
            " ",
            w.workflow_id,
            w.name,
            w.correlation_id,
            w.status,
            sa.cast(w.input, sa.Text),
            sa.cast(w.output, sa.Text),
            w.reason,
        )
    )


def _where(search: Search) -> list:
    clauses = []
    for cond in search.conditions:
        column = _search_column(cond.field)
        timed = cond.field.endswith("_time")
        values = [int(cond.values[0])] if timed else list(cond.values)
        if cond.op == "IN":
            clauses.append(column.in_(values))
        elif cond.op == "LIKE":
            clauses.append(sa.func.lower(column).like(values[0]))
        elif cond.op == ">":
            clauses.append(column > values[0])
        elif cond.op == "<":
            clauses.append(column < values[0])
        else:
            clauses.append(column == values[0])
    if search.free_text is not None:
        clauses.append(_search_text().like(search.free_text))
    return clauses


class Store:
    """SQL for the facade: every method takes a cursor of the caller's transaction."""

    def __init__(self, engine: sa.Engine):
        self.sa_engine = engine

    def setup(self) -> None:
        db.run_sql_file(SCHEMA_SQL, self.sa_engine)

    def transaction(self) -> _Transaction:
        return _Transaction(self.sa_engine)

    # --- definitions -----------------------------------------------------------------
    def put_task_def(self, cur, task_def: dict, now: int) -> None:
        cur.execute(
            """INSERT INTO conductor.task_defs (name, body, update_time) VALUES (%s, %s, %s)
                       ON CONFLICT (name) DO UPDATE SET body = EXCLUDED.body, update_time = EXCLUDED.update_time""",
            (task_def["name"], json.dumps(task_def), now),
        )

    def task_defs(self, cur) -> dict[str, dict]:
        cur.execute("SELECT name, body FROM conductor.task_defs ORDER BY name")
        return {r["name"]: r["body"] for r in cur.fetchall()}

    def delete_task_def(self, cur, name: str) -> bool:
        cur.execute("DELETE FROM conductor.task_defs WHERE name = %s RETURNING 1", (name,))
        return cur.fetchone() is not None

    def workflow_def_exists(self, cur, name: str, version: int) -> bool:
        cur.execute("SELECT 1 FROM conductor.workflow_defs WHERE name = %s AND version = %s", (name, version))
        return cur.fetchone() is not None

    def put_workflow_def(self, cur, definition: dict, now: int) -> None:
        cur.execute(
            """INSERT INTO conductor.workflow_defs (name, version, body, update_time)
                       VALUES (%s, %s, %s, %s) ON CONFLICT (name, version) DO UPDATE
                       SET body = EXCLUDED.body, update_time = EXCLUDED.update_time""",
            (definition["name"], definition["version"], json.dumps(definition), now),
        )

    def workflow_def(self, cur, name: str, version: int | None = None) -> dict | None:
        cur.execute(
            """SELECT body FROM conductor.workflow_defs WHERE name = %s
                       AND (%s::int IS NULL OR version = %s) ORDER BY version DESC LIMIT 1""",
            (name, version, version),
        )
        row = cur.fetchone()
        return row["body"] if row else None

    def workflow_defs(self, cur) -> list[dict]:
        cur.execute("SELECT body FROM conductor.workflow_defs ORDER BY name, version")
        return [r["body"] for r in cur.fetchall()]

    def delete_workflow_def(self, cur, name: str, version: int) -> bool:
        cur.execute("DELETE FROM conductor.workflow_defs WHERE name = %s AND version = %s RETURNING 1", (name, version))
        return cur.fetchone() is not None

    # --- runs --------------------------------------------------------------------------
    def insert(self, cur, run: Run) -> None:
        wf = run.workflow
        cur.execute(
            f"INSERT INTO conductor.workflows ({', '.join(WORKFLOW_COLUMNS)}) VALUES "
            f"({', '.join(['%s'] * len(WORKFLOW_COLUMNS))})",
            [_db_value(c, wf[c]) for c in WORKFLOW_COLUMNS],
        )
        self.save(cur, run)

    def load(self, cur, workflow_id: str, lock: bool = True) -> Run:
        suffix = " FOR UPDATE" if lock else ""
        cur.execute("SELECT * FROM conductor.workflows WHERE workflow_id = %s" + suffix, (workflow_id,))
        workflow = cur.fetchone()
        if workflow is None:
            raise NotFound(f"No such workflow found by id: {workflow_id}")
        cur.execute("SELECT * FROM conductor.tasks WHERE workflow_id = %s ORDER BY seq" + suffix, (workflow_id,))
        return Run(dict(workflow), [dict(r) for r in cur.fetchall()])

    def save(self, cur, run: Run, now: int | None = None) -> set[str]:
        """Write the run back; returns the task types that got queued work."""
        wf = run.workflow
        if now is not None:
            wf["update_time"] = now
        cur.execute(
            """UPDATE conductor.workflows SET status = %s, output = %s, variables = %s, reason = %s,
                       failed_refs = %s, failed_task_id = %s, create_time = %s, last_retried_time = %s,
                       update_time = %s, end_time = %s WHERE workflow_id = %s""",
            (
                wf["status"],
                json.dumps(wf["output"]),
                json.dumps(wf["variables"]),
                wf["reason"],
                json.dumps(wf["failed_refs"]),
                wf["failed_task_id"],
                wf["create_time"],
                wf["last_retried_time"],
                wf["update_time"],
                wf["end_time"],
                run.id,
            ),
        )
        if run.redefined:  # a restart with the latest definition
            cur.execute(
                "UPDATE conductor.workflows SET definition = %s, timeout_seconds = %s WHERE workflow_id = %s",
                (json.dumps(wf["definition"]), wf["timeout_seconds"], run.id),
            )
            run.redefined = False
        if run.reset:
            cur.execute("DELETE FROM conductor.tasks WHERE workflow_id = %s", (run.id,))
            run.reset = False
        queued = {t["task_def_name"] for t in run.dirty.values() if t["queued"]}
        if run.dirty:
            rows = [[_db_value(c, task[c]) for c in TASK_COLUMNS] for task in run.dirty.values()]
            updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in TASK_COLUMNS if c != "task_id")
            psycopg2.extras.execute_values(
                cur,
                f"INSERT INTO conductor.tasks ({', '.join(TASK_COLUMNS)}) VALUES %s "
                f"ON CONFLICT (task_id) DO UPDATE SET {updates}",
                rows,
            )
        run.dirty = {}
        for child in run.started:
            self.insert(cur, child)
            queued |= {t["task_def_name"] for t in child.tasks if t["queued"]}
        run.started = []
        return queued

    def workflow_of(self, cur, task_id: str) -> str:
        cur.execute("SELECT workflow_id FROM conductor.tasks WHERE task_id = %s", (task_id,))
        row = cur.fetchone()
        if row is None:
            raise NotFound(f"No such task found by id: {task_id}")
        return row["workflow_id"]

    def workflow_ids(self, cur, name: str | None, status: str | None, version: int | None = None) -> list[str]:
        cur.execute(
            """SELECT workflow_id FROM conductor.workflows
                       WHERE (%(name)s::text IS NULL OR name = %(name)s)
                         AND (%(status)s::text IS NULL OR status = %(status)s)
                         AND (%(version)s::int IS NULL OR version = %(version)s)
                       ORDER BY create_time, workflow_id""",
            {"name": name, "status": status, "version": version},
        )
        return [r["workflow_id"] for r in cur.fetchall()]

    def search(self, search: Search) -> tuple[int, list[dict]]:
        """One page of runs matching ``search`` (newest first when it sorts so) and how many
        match in all: two statements, the page limited and offset in SQL."""
        where = _where(search)
        order = [
            (_search_column(field).desc() if direction == "DESC" else _search_column(field).asc())
            for field, direction in search.sort
        ] or [_W.c.create_time.asc()]
        page = sa.select(*(_W.c[c] for c in SUMMARY_COLUMNS), _classifier().label("classifier")).where(*where)
        page = page.order_by(*order, _W.c.workflow_id).offset(search.start)
        if search.size >= 0:  # Conductor's SQLite index: a negative LIMIT is no limit
            page = page.limit(search.size)
        with self.sa_engine.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(_W).where(*where)).scalar_one()
            rows = [dict(r) for r in conn.execute(page).mappings()]
            failed = [r["workflow_id"] for r in rows if r["failed_refs"]]
            names: dict[str, list[str]] = {}
            if failed:  # failedTaskNames: the task types of the failed references
                found = conn.execute(
                    sa.select(_T.c.workflow_id, _T.c.task_def_name)
                    .distinct()
                    .select_from(_T.join(_W, _W.c.workflow_id == _T.c.workflow_id))
                    .where(_T.c.workflow_id.in_(failed), _W.c.failed_refs.has_key(_T.c.ref))
                    .order_by(_T.c.workflow_id, _T.c.task_def_name)
                )
                for workflow_id, task_name in found:
                    names.setdefault(workflow_id, []).append(task_name)
        for row in rows:
            row["failed_task_names"] = names.get(row["workflow_id"], [])
        return total, rows

    def remove(self, cur, workflow_id: str) -> bool:
        cur.execute("DELETE FROM conductor.workflows WHERE workflow_id = %s RETURNING 1", (workflow_id,))
        return cur.fetchone() is not None

    def task_row(self, cur, task_id: str) -> dict | None:
        cur.execute(
            """SELECT t.*, w.name AS workflow_type, w.priority AS workflow_priority, w.correlation_id
                       FROM conductor.tasks t JOIN conductor.workflows w USING (workflow_id)
                       WHERE task_id = %s""",
            (task_id,),
        )
        row = cur.fetchone()
        return dict(row) if row else None

    def extend_lease(self, cur, task_id: str, now: int) -> None:
        cur.execute(
            """UPDATE conductor.tasks SET update_time = %s
                       WHERE task_id = %s AND status NOT IN ('COMPLETED', 'COMPLETED_WITH_ERRORS', 'FAILED',
                       'FAILED_WITH_TERMINAL_ERROR', 'TIMED_OUT', 'CANCELED', 'SKIPPED') RETURNING 1""",
            (now, task_id),
        )
        if cur.fetchone() is None:
            cur.execute("SELECT 1 FROM conductor.tasks WHERE task_id = %s", (task_id,))
            if cur.fetchone() is None:
                raise NotFound(f"No such task found by id: {task_id}")

    # --- queues ------------------------------------------------------------------------
    def claim(self, cur, task_type: str, worker_id: str | None, count: int, now: int) -> list[dict]:
        cur.execute(
            """
            WITH claimed AS (
                UPDATE conductor.tasks t SET queued = false, status = 'IN_PROGRESS', callback_after_seconds = 0,
                       poll_count = t.poll_count + 1, worker_id = %(worker)s,
                       start_time = coalesce(t.start_time, %(now)s), update_time = %(now)s
                FROM (SELECT task_id FROM conductor.tasks
                      WHERE queued AND task_def_name = %(type)s AND visible_at <= %(now)s
                      ORDER BY visible_at, scheduled_time, seq LIMIT %(n)s
                      FOR UPDATE SKIP LOCKED) c
                WHERE t.task_id = c.task_id RETURNING t.*)
            SELECT claimed.*, w.name AS workflow_type, w.priority AS workflow_priority, w.correlation_id
            FROM claimed JOIN conductor.workflows w USING (workflow_id)
            ORDER BY claimed.scheduled_time, claimed.seq""",
            {"worker": worker_id, "now": now, "type": task_type, "n": count},
        )
        return [dict(r) for r in cur.fetchall()]

    def queue_sizes(self, cur) -> dict[str, int]:
        cur.execute("SELECT task_def_name, count(*) AS n FROM conductor.tasks WHERE queued GROUP BY 1")
        return {r["task_def_name"]: r["n"] for r in cur.fetchall()}

    def overdue(self, cur, now: int) -> list[str]:
        """Workflows a timeout may have fired in (the sweep decides them)."""
        cur.execute(
            """
            SELECT workflow_id FROM conductor.tasks          -- silent workers (responseTimeoutSeconds)
            WHERE status = 'IN_PROGRESS' AND NOT queued AND response_timeout_seconds > 0
              AND update_time + (response_timeout_seconds + callback_after_seconds) * 1000 <= %(now)s
            UNION
            SELECT workflow_id FROM conductor.tasks          -- timeoutSeconds from the first poll
            WHERE status IN ('IN_PROGRESS', 'SCHEDULED') AND timeout_seconds > 0 AND start_time IS NOT NULL
              AND start_time + timeout_seconds * 1000 <= %(now)s
            UNION
            SELECT workflow_id FROM conductor.tasks          -- nobody polled (pollTimeoutSeconds)
            WHERE status = 'SCHEDULED' AND queued
              AND coalesce((workflow_task -> 'taskDefinition' ->> 'pollTimeoutSeconds')::bigint, 0) > 0
              AND scheduled_time + ((workflow_task -> 'taskDefinition' ->> 'pollTimeoutSeconds')::bigint
                                    + callback_after_seconds) * 1000 <= %(now)s
            UNION
            SELECT workflow_id FROM conductor.workflows     -- the workflow's own timeoutSeconds
            WHERE status = 'RUNNING' AND timeout_seconds > 0
              AND CASE WHEN last_retried_time > 0 THEN last_retried_time ELSE create_time END
                  + timeout_seconds * 1000 <= %(now)s""",
            {"now": now},
        )
        return [r["workflow_id"] for r in cur.fetchall()]

    # --- task logs ---------------------------------------------------------------------
    def add_logs(self, cur, task_id: str, logs: list[Any] | None, now: int) -> None:
        for entry in logs or []:
            text = entry.get("log") if isinstance(entry, dict) else str(entry)
            created = entry.get("createdTime") if isinstance(entry, dict) else None
            cur.execute(
                "INSERT INTO conductor.task_logs (task_id, log, created_time) VALUES (%s, %s, %s)",
                (task_id, text or "", created or now),
            )

    def logs(self, cur, task_id: str) -> list[dict]:
        cur.execute(
            """SELECT log, task_id AS "taskId", created_time AS "createdTime"
                       FROM conductor.task_logs WHERE task_id = %s ORDER BY created_time""",
            (task_id,),
        )
        return [dict(r) for r in cur.fetchall()]


class _Transaction:
    """A pooled psycopg2 connection, one transaction, dict rows."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def __enter__(self):
        self.conn = self.engine.raw_connection()
        self.cur = self.conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor)
        return self.cur

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.conn.commit()
            else:
                self.conn.rollback()
        finally:
            self.cur.close()
            self.conn.close()  # back to the pool


def _db_value(column: str, value: Any) -> Any:
    return json.dumps(value) if column in JSON_COLUMNS else value
