"""What the explorer's three views show, computed from Conductor's JSON (no widgets here, so
it is tested without a browser): the executions filter as a ``/workflow/search`` query, a page
of WorkflowSummary rows, and a run's graph, tasks, failure and timeline.

A learner's exercise answers run as workflows named ``practice_<exercise>_<hash>``
(:mod:`fdelib.practice.workflowcheck`): :data:`PRACTICE` finds them all, the exercise's id finds
one exercise's runs; the course's own workflows are every other name.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from . import graph

STATUSES = ("RUNNING", "COMPLETED", "FAILED", "TIMED_OUT", "TERMINATED", "PAUSED")
FAILED = ("FAILED", "TIMED_OUT", "TERMINATED")
TERMINAL = ("COMPLETED", *FAILED)
#: the workflow type of every exercise answer a check ran (workflowcheck's naming)
PRACTICE = "practice_*"
PRACTICE_PREFIX = "practice_"
TIME_RANGES: dict[str, int | None] = {
    "any time": None,
    "last 15 minutes": 15 * 60,
    "last hour": 3600,
    "last 24 hours": 86400,
    "last 7 days": 7 * 86400,
}
PAGE_SIZE = 25


def is_practice(workflow_type: str) -> bool:
    return workflow_type.startswith(PRACTICE_PREFIX)


def plain(workflow: Any) -> dict:
    """Conductor's JSON of a run, from that JSON or from conductor-python's ``Workflow``."""
    if isinstance(workflow, Mapping):
        return dict(workflow)
    from conductor.client.http.api_client import ApiClient

    return ApiClient().sanitize_for_serialization(workflow)


# --- Definitions ---------------------------------------------------------------------------
def definitions(defs: Sequence[Mapping]) -> list[tuple[str, list[int]]]:
    """(name, versions) per workflow, the course's first and the learner's exercise answers
    last, each group by name."""
    versions: dict[str, list[int]] = {}
    for d in defs:
        versions.setdefault(d["name"], []).append(int(d.get("version") or 1))
    return sorted(((n, sorted(v)) for n, v in versions.items()), key=lambda item: (is_practice(item[0]), item[0]))


def definition_label(name: str, versions: Sequence[int]) -> str:
    marker = " (your exercise answer)" if is_practice(name) else ""
    return f"{name} v{max(versions)}{marker}" + (f" · {len(versions)} versions" if len(versions) > 1 else "")


# --- Executions ----------------------------------------------------------------------------
@dataclasses.dataclass
class Filter:
    """The Executions view's filter; :meth:`params` is its ``/workflow/search`` request."""

    workflow: str | None = None  # a workflow type, PRACTICE (the learner's), or None: all
    statuses: tuple[str, ...] = ()
    since_ms: int | None = None  # runs started after this (epoch ms)
    until_ms: int | None = None
    correlation_id: str | None = None
    free_text: str | None = None

    def query(self) -> str | None:
        parts = []
        if self.workflow:
            parts.append(f"workflowType IN ({self.workflow})")
        if self.statuses:
            parts.append(f"status IN ({','.join(self.statuses)})")
        if self.since_ms is not None:
            parts.append(f"startTime > {int(self.since_ms)}")
        if self.until_ms is not None:
            parts.append(f"startTime < {int(self.until_ms)}")
        if self.correlation_id:
            parts.append(f"correlationId = '{self.correlation_id.strip()}'")
        return " AND ".join(parts) or None

    def params(self, page: int = 0, size: int = PAGE_SIZE) -> dict[str, Any]:
        return {
            "start": page * size,
            "size": size,
            "sort": "startTime:DESC",
            "freeText": (self.free_text or "").strip() or "*",
            "query": self.query(),
        }


@dataclasses.dataclass
class Page:
    """One page of the Executions list."""

    total: int
    rows: list[dict]
    page: int = 0
    size: int = PAGE_SIZE

    @classmethod
    def of(cls, answer: Mapping, page: int = 0, size: int = PAGE_SIZE) -> Page:
        return cls(int(answer.get("totalHits") or 0), list(answer.get("results") or []), page, size)

    @property
    def label(self) -> str:
        if not self.total:
            return "no executions match"
        first = self.page * self.size + 1
        return f"{first:,}–{first + len(self.rows) - 1:,} of {self.total:,} executions, newest first"

    @property
    def has_next(self) -> bool:
        return (self.page + 1) * self.size < self.total

    @property
    def has_previous(self) -> bool:
        return self.page > 0

    @property
    def live(self) -> bool:
        """A run on this page is still going: the list refreshes while it is."""
        return any(r.get("status") in ("RUNNING", "PAUSED") for r in self.rows)


def _summary_time(text: str | None) -> str:
    return (text or "").replace("T", " ")[:19]


def duration(ms: int | float | None) -> str:
    if ms is None:
        return ""
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


# a run failed by a task: Conductor OSS names the task's id ("Task <id> failed with status:
# FAILED and reason: '…'"), the local engine its reference name ("Task 'ref' failed with status FAILED …")
_TASK_FAILED = re.compile(
    r"^Task (?:'(?P<ref>[^']*)'|\S+) failed with status:? (?P<status>\w+) and reason: '(?P<why>.*)'$", re.S
)


def short_reason(summary: Mapping) -> str:
    """A run's reason for the list: a failed task's own reason after its reference name
    (``charge: card declined``), whichever server's wording; any other reason as it is."""
    reason = summary.get("reasonForIncompletion") or ""
    found = _TASK_FAILED.match(reason)
    if not found:
        return reason
    ref = found["ref"] or str(summary.get("failedReferenceTaskNames") or "").split(",")[0] or "a task"
    why = found["why"] or found["status"]
    return f"{ref}: {why}"


def row_label(summary: Mapping) -> str:
    """A WorkflowSummary as one line of the list (fixed columns)."""
    workflow = f"{summary.get('workflowType', '')} v{summary.get('version', '')}"
    took = duration(summary.get("executionTime")) if summary.get("endTime") else "running"
    reason = short_reason(summary)
    return (
        f"{_summary_time(summary.get('startTime'))}  {summary.get('status', ''):<10}  {workflow[:34]:<34}  "
        f"{(summary.get('correlationId') or '—')[:22]:<22}  {took:>7}  {summary.get('workflowId', '')}"
        + (f"  {reason[:60]}" if reason else "")
    )


LIST_HEADER = f"{'started (UTC)':<19}  {'status':<10}  {'workflow':<34}  {'correlation id':<22}  {'took':>7}  id"


# --- A run ---------------------------------------------------------------------------------
def latest_attempts(run: Mapping) -> dict[str, dict]:
    """Each reference name's latest attempt (the highest retryCount, then seq)."""
    latest: dict[str, dict] = {}
    for task in sorted(run.get("tasks") or [], key=lambda t: (t.get("retryCount") or 0, t.get("seq") or 0)):
        latest[task["referenceTaskName"]] = task
    return latest


def statuses(run: Mapping) -> dict[str, str]:
    return {ref: t["status"] for ref, t in latest_attempts(run).items()}


def spawned(run: Mapping) -> dict[str, list[dict]]:
    """The tasks each FORK_JOIN_DYNAMIC of the run forked (from its ``forkedTasks`` input)."""
    found: dict[str, list[dict]] = {}
    by_ref = latest_attempts(run)
    for task in run.get("tasks") or []:
        # Conductor reports a dynamic fork's taskType as FORK; its workflowTask says which it is
        if "FORK_JOIN_DYNAMIC" in (task.get("taskType"), (task.get("workflowTask") or {}).get("type")):
            refs = (task.get("inputData") or {}).get("forkedTasks") or []
            found[task["referenceTaskName"]] = [
                {
                    "taskReferenceName": r,
                    "type": (by_ref.get(r, {}).get("workflowTask") or {}).get("type", "SIMPLE"),
                    "name": by_ref.get(r, {}).get("taskDefName", ""),
                }
                for r in refs
            ]
    return found


def definition_of(run: Mapping) -> dict:
    return dict(run.get("workflowDefinition") or {"name": run.get("workflowName"), "tasks": []})


def run_graph(run: Mapping) -> str:
    """The run's graph, every task filled with its latest attempt's status colour."""
    marks = statuses(run)
    return graph.svg(definition_of(run), marks, spawned(run)) + graph.legend(marks)


def task_rows(run: Mapping) -> list[dict]:
    """One row per task attempt, in the order the engine scheduled them: what Conductor UI's
    task list shows (times in ms since the run started)."""
    origin = run.get("createTime") or run.get("startTime") or 0
    rows = []
    for t in sorted(run.get("tasks") or [], key=lambda t: t.get("seq") or 0):
        task_def = t.get("taskDefinition") or {}
        start, end, scheduled = t.get("startTime") or 0, t.get("endTime") or 0, t.get("scheduledTime") or 0
        rows.append(
            {
                "seq": t.get("seq"),
                "ref": t["referenceTaskName"],
                "type": t.get("taskType"),
                "status": t.get("status"),
                "attempt": t.get("retryCount") or 0,
                "retries allowed": task_def.get("retryCount"),
                "timeout s": task_def.get("timeoutSeconds"),
                "response timeout s": t.get("responseTimeoutSeconds") or task_def.get("responseTimeoutSeconds"),
                "polls": t.get("pollCount") or 0,
                "worker": t.get("workerId") or "",
                "scheduled ms": scheduled - origin if scheduled else None,
                "queued ms": (start - scheduled) if start and scheduled else None,
                "ran ms": (end - start) if end and start else None,
                "reason": t.get("reasonForIncompletion") or "",
                "task id": t.get("taskId"),
            }
        )
    return rows


def failed_tasks(run: Mapping) -> list[dict]:
    """The attempts that failed, timed out or were canceled, with their reasons and inputs."""
    return [
        t
        for t in sorted(run.get("tasks") or [], key=lambda t: t.get("seq") or 0)
        if t.get("status") in ("FAILED", "FAILED_WITH_TERMINAL_ERROR", "TIMED_OUT", "CANCELED")
    ]


def actions(run: Mapping) -> list[str]:
    """What Conductor UI's Actions menu offers for a run in its status (ActionModule.jsx):
    terminate while running; retry from the failed task once failed; restart (with the current
    or the latest definitions) once ended, if the definition is restartable; re-run always."""
    status = run.get("status")
    restartable = (run.get("workflowDefinition") or {}).get("restartable", True) is not False
    if status in ("RUNNING", "PAUSED"):
        return ["terminate", "rerun"]
    found = []
    if status in FAILED:
        found.append("retry")
    if status in TERMINAL and restartable:
        found += ["restart", "restart with latest definitions"]
    return [*found, "rerun"]


def json_block(value: Any) -> str:
    return (
        '<pre style="max-height:260px;overflow:auto;background:#f7f7f7;padding:6px;margin:2px 0;font-size:11px">'
        + html.escape(json.dumps(value, indent=2, sort_keys=True, default=str))
        + "</pre>"
    )


def task_detail(task: Mapping, logs: Sequence[Mapping] = ()) -> str:
    """One attempt: its status, worker, reason, input, output and logs."""
    parts = [
        f"<b>{html.escape(task['referenceTaskName'])}</b> ({html.escape(str(task.get('taskType')))}) "
        f"attempt {task.get('retryCount') or 0}: <b>{html.escape(str(task.get('status')))}</b>"
        + (f" · worker {html.escape(task['workerId'])}" if task.get("workerId") else "")
        + f" · polled {task.get('pollCount') or 0}×"
    ]
    if task.get("reasonForIncompletion"):
        parts.append(
            '<div class="fde-reason" style="color:#990000">reason: '
            + html.escape(task["reasonForIncompletion"])
            + "</div>"
        )
    parts.append("<div><b>input</b></div>" + json_block(task.get("inputData") or {}))
    parts.append("<div><b>output</b></div>" + json_block(task.get("outputData") or {}))
    if logs:
        parts.append("<div><b>logs</b></div>" + json_block([entry.get("log") for entry in logs]))
    return f'<div class="fde-task-detail">{"".join(parts)}</div>'


def run_header(run: Mapping) -> str:
    status = run.get("status", "")
    color = graph.STATUS_FILLS.get(status, "#3d85c6" if status == "RUNNING" else "#999")
    start, end = run.get("createTime") or 0, run.get("endTime") or 0
    rows = [
        ("workflow", f"{run.get('workflowName')} v{run.get('workflowVersion')}"),
        ("id", run.get("workflowId")),
        ("correlation id", run.get("correlationId") or "—"),
        ("started", _ms_time(start)),
        ("ended", _ms_time(end) if end else "—"),
        ("took", duration(end - start) if end and start else "running"),
    ]
    if run.get("parentWorkflowId"):
        rows.append(("parent workflow", run["parentWorkflowId"]))
    if (run.get("output") or {}).get("conductor.failure_workflow"):
        rows.append(("failure workflow", run["output"]["conductor.failure_workflow"]))
    cells = "".join(
        f"<tr><th style='text-align:left;padding-right:10px'>{k}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in rows
    )
    reason = run.get("reasonForIncompletion")
    return (
        f'<div class="fde-run-header"><span class="fde-run-status" style="background:{color};color:#fff;'
        f'padding:2px 8px;border-radius:8px;font-weight:bold">{html.escape(status)}</span>'
        f'<table style="font-size:12px;margin-top:4px">{cells}</table>'
        + (f'<div class="fde-run-reason" style="color:#990000">reason: {html.escape(reason)}</div>' if reason else "")
        + "</div>"
    )


def _ms_time(ms: int) -> str:
    if not ms:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S.") + f"{ms % 1000:03d} UTC"


def task_table(rows: Sequence[Mapping], columns: Sequence[str]) -> str:
    head = "".join(f"<th style='text-align:left;padding:2px 6px'>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        color = graph.STATUS_FILLS.get(str(row.get("status")), "#fff")
        cells = []
        for c in columns:
            value = row.get(c)
            text = "" if value is None else str(value)
            style = f"background:{color};color:#fff" if c == "status" and row.get("status") in graph.DARK else ""
            if c == "status" and row.get("status") not in graph.DARK:
                style = f"background:{color}"
            cells.append(f"<td style='padding:2px 6px;{style}'>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        '<table class="fde-task-table" style="font-size:11px;border-collapse:collapse">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


LIVE_COLUMNS = (
    "seq",
    "ref",
    "type",
    "status",
    "attempt",
    "retries allowed",
    "timeout s",
    "response timeout s",
    "polls",
    "worker",
    "scheduled ms",
    "queued ms",
    "ran ms",
    "reason",
)
#: what a stored notebook output may show: no ids, times or worker names
STATIC_COLUMNS = ("ref", "type", "status", "attempt", "reason")


def timeline(run: Mapping, width: int = 860) -> str:
    """One lane per attempt: queued (light) then running (solid), in ms since the run started."""
    rows = [r for r in task_rows(run) if r["scheduled ms"] is not None]
    if not rows:
        return "<div>no task has been scheduled yet</div>"
    ends = [(r["scheduled ms"] or 0) + (r["queued ms"] or 0) + (r["ran ms"] or 0) for r in rows]
    span = max(max(ends), 1)
    lane, label_w = 16, 190
    scale = (width - label_w - 20) / span
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="fde-timeline" width="{width}" '
        f'height="{len(rows) * lane + 30}" font-family="sans-serif" font-size="10">'
    ]
    for i, r in enumerate(rows):
        y = i * lane + 4
        color = graph.STATUS_FILLS.get(r["status"], "#ccc")
        x0 = label_w + (r["scheduled ms"] or 0) * scale
        queued = (r["queued ms"] or 0) * scale
        ran = max((r["ran ms"] or 0) * scale, 2)
        label = r["ref"] + (f" (retry {r['attempt']})" if r["attempt"] else "")
        parts.append(f'<text x="0" y="{y + 10}">{html.escape(label[:30])}</text>')
        parts.append(f'<rect x="{x0:.1f}" y="{y}" width="{queued:.1f}" height="12" fill="{color}" opacity="0.3"/>')
        parts.append(
            f'<rect x="{x0 + queued:.1f}" y="{y}" width="{ran:.1f}" height="12" fill="{color}">'
            f"<title>{html.escape(label)}: {r['status']}, queued {r['queued ms']} ms, "
            f"ran {r['ran ms']} ms</title></rect>"
        )
    axis_y = len(rows) * lane + 18
    parts.append(
        f'<text x="{label_w}" y="{axis_y}">0</text><text x="{width - 20}" y="{axis_y}" text-anchor="end">'
        f"{duration(span)} after the run started</text></svg>"
    )
    return "".join(parts)


# --- the static view (stored outputs) --------------------------------------------------------
class RunView:
    """A run as the explorer shows it, without anything that changes from run to run (ids,
    times, worker names): what a lesson stores as its output. The live view opens with
    ``fdelib.conductor.explorer()``."""

    def __init__(self, workflow: Any, title: str | None = None):
        self.run = plain(workflow)
        self.title = title

    def rows(self) -> list[dict]:
        return [{c: r[c] for c in STATIC_COLUMNS} for r in task_rows(self.run)]

    def _repr_html_(self) -> str:
        run = self.run
        status = run.get("status", "")
        color = graph.STATUS_FILLS.get(status, "#3d85c6")
        reason = run.get("reasonForIncompletion")
        failed = [
            f"<li><b>{html.escape(t['referenceTaskName'])}</b> attempt {t.get('retryCount') or 0}: "
            f"{html.escape(t.get('reasonForIncompletion') or t.get('status', ''))}</li>"
            for t in failed_tasks(run)
        ]
        title = self.title or f"{run.get('workflowName')} v{run.get('workflowVersion')}"
        return (
            '<div class="fde-run-view">'
            f"<div><b>{html.escape(title)}</b> "
            f'<span style="background:{color};color:#fff;padding:1px 7px;border-radius:8px">'
            f"{html.escape(status)}</span>"
            + (f' <span style="color:#990000">{html.escape(reason)}</span>' if reason else "")
            + "</div>"
            + '<div style="display:flex;gap:18px;align-items:flex-start;flex-wrap:wrap">'
            f"<div>{graph.svg(definition_of(run), statuses(run), spawned(run), max_width=520)}"
            f"{graph.legend(statuses(run))}</div>"
            f"<div>{task_table(self.rows(), STATIC_COLUMNS)}"
            + (f"<div style='margin-top:6px'>failed attempts:<ul>{''.join(failed)}</ul></div>" if failed else "")
            + "</div></div>"
            '<div style="font-size:11px;color:#555">Live, with every run, filters, inputs and outputs, the '
            "timeline and Conductor UI's actions: <code>fdelib.conductor.explorer()</code> in JupyterLab.</div></div>"
        )

    def __repr__(self) -> str:
        run = self.run
        lines = [f"{run.get('workflowName')} v{run.get('workflowVersion')}: {run.get('status')}"]
        if run.get("reasonForIncompletion"):
            lines[0] += f" ({run['reasonForIncompletion']})"
        rows = self.rows()
        ref_w = max([len(str(r["ref"])) for r in rows] + [3])
        type_w = max([len(str(r["type"])) for r in rows] + [4])
        status_w = max([len(str(r["status"])) for r in rows] + [6])
        for r in rows:
            lines.append(
                f"  {r['ref']:<{ref_w}}  {r['type']!s:<{type_w}}  {r['status']!s:<{status_w}}  "
                f"attempt {r['attempt']}" + (f"  {r['reason']}" if r["reason"] else "")
            )
        lines.append("(live, with every run and Conductor UI's actions: fdelib.conductor.explorer())")
        return "\n".join(lines)


__all__ = [
    "PRACTICE",
    "STATUSES",
    "TIME_RANGES",
    "Filter",
    "Page",
    "RunView",
    "actions",
    "definitions",
    "failed_tasks",
    "run_graph",
    "spawned",
    "statuses",
    "task_detail",
    "task_rows",
    "timeline",
]
