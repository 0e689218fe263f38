"""Read a workflow's execution the way Conductor's UI shows it: graph, task list, timeline.

Works on what any Conductor returns (conductor-python ``Workflow`` objects or their JSON),
so the same cells explain a run on the local engine or on the compose stack's server.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import networkx as nx
import pandas as pd

from .. import viz

STATUS_COLORS = {
    "COMPLETED": "#6aa84f",
    "FAILED": "#cc0000",
    "FAILED_WITH_TERMINAL_ERROR": "#990000",
    "TIMED_OUT": "#e69138",
    "CANCELED": "#999999",
    "IN_PROGRESS": "#3d85c6",
    "SCHEDULED": "#9fc5e8",
    "COMPLETED_WITH_ERRORS": "#b6d7a8",
}


def _get(obj: Any, json_name: str, attr: str) -> Any:
    return obj.get(json_name) if isinstance(obj, dict) else getattr(obj, attr, None)


def tasks(workflow: Any) -> pd.DataFrame:
    """One row per task attempt, in order: what ran, how it ended, when (ms from the start)."""
    rows = []
    items = _get(workflow, "tasks", "tasks") or []
    origin = min((_get(t, "scheduledTime", "scheduled_time") or 0 for t in items), default=0)
    for t in items:
        start, end = _get(t, "startTime", "start_time") or 0, _get(t, "endTime", "end_time") or 0
        scheduled = _get(t, "scheduledTime", "scheduled_time") or 0
        rows.append(
            {
                "seq": _get(t, "seq", "seq"),
                "ref": _get(t, "referenceTaskName", "reference_task_name"),
                "type": _get(t, "taskType", "task_type"),
                "status": _get(t, "status", "status"),
                "attempt": _get(t, "retryCount", "retry_count") or 0,
                "reason": _get(t, "reasonForIncompletion", "reason_for_incompletion") or "",
                "scheduled_ms": scheduled - origin,
                "start_ms": (start - origin) if start else None,
                "end_ms": (end - origin) if end else None,
            }
        )
    frame = pd.DataFrame(rows)
    return frame.sort_values("seq").reset_index(drop=True) if not frame.empty else frame


def summary(workflow: Any) -> pd.DataFrame:
    """The task list without times: deterministic, what a lesson can print."""
    frame = tasks(workflow)
    return frame[["ref", "type", "status", "attempt", "reason"]] if not frame.empty else frame


def draw_timeline(
    workflows: dict[str, Any], *, title: str = "Execution timeline", figsize: tuple[float, float] = (9, 4)
) -> None:
    """One lane per task attempt, coloured by status: queued (light) then running (solid).

    The figure's size is fixed (a run with more attempts gets thinner lanes), so the cell's
    text output is the same from run to run.
    """
    frames = [(label, tasks(wf)) for label, wf in workflows.items()]
    fig, ax = plt.subplots(figsize=figsize)
    y, labels = 0, []
    for label, frame in frames:
        for row in frame.itertuples():
            color = STATUS_COLORS.get(row.status, "#cccccc")
            start = row.start_ms if row.start_ms is not None else row.scheduled_ms
            end = row.end_ms if row.end_ms is not None else start
            ax.barh(y, start - row.scheduled_ms, left=row.scheduled_ms, color=color, alpha=0.3)
            ax.barh(y, max(end - start, 2), left=start, color=color)
            labels.append(f"{label}: {row.ref}" + (f" (retry {row.attempt})" if row.attempt else ""))
            y += 1
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("ms since the workflow's first task was scheduled")
    ax.set_title(title)
    handles = [
        plt.Rectangle((0, 0), 1, 1, color=c)
        for s, c in STATUS_COLORS.items()
        if any((f["status"] == s).any() for _, f in frames)
    ]
    names = [s for s in STATUS_COLORS if any((f["status"] == s).any() for _, f in frames)]
    ax.legend(handles, names, fontsize=7, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    plt.show()


def graph(definition: dict) -> nx.DiGraph:
    """The definition as a graph of task reference names (forks fan out, joins fan in)."""
    g = nx.DiGraph()

    def walk(tasks_: list[dict], before: list[str]) -> list[str]:
        for task in tasks_:
            ref, kind = task["taskReferenceName"], (task.get("type") or "SIMPLE")
            g.add_node(ref, type=kind)
            for b in before:
                g.add_edge(b, ref)
            if kind == "FORK_JOIN":
                ends = []
                for branch in task.get("forkTasks") or []:
                    ends += walk(branch, [ref])
                before = ends or [ref]
            elif kind in ("SWITCH", "DECISION"):
                ends = []
                cases = [*list((task.get("decisionCases") or {}).values()), task.get("defaultCase") or []]
                for case in cases:
                    ends += walk(case, [ref]) if case else [ref]
                before = [e for e in ends if g.nodes[e].get("type") != "TERMINATE"]
            else:
                before = [ref]
        return before

    walk(definition.get("tasks") or [], [])
    return g


def draw_definition(definition: dict, *, title: str | None = None, figsize=(11, 3.2)) -> None:
    """Draw a workflow definition left to right, system tasks in grey."""
    g = graph(definition)
    colors = {n: ("#eeeeee" if g.nodes[n]["type"] != "SIMPLE" else "#cfe2f3") for n in g.nodes}
    viz.draw_dag(g, title=title or definition.get("name", "workflow"), colors=colors, figsize=figsize)


def wait(
    workflow_client, workflow_id: str, timeout: float = 60, statuses=("COMPLETED", "FAILED", "TIMED_OUT", "TERMINATED")
):
    """Poll a workflow until it ends; return it with its tasks. Raises
    :class:`~fdelib.errors.StillRunning` if it has not ended within ``timeout`` seconds."""
    import time

    from ..errors import StillRunning

    deadline = time.monotonic() + timeout
    while True:
        found = workflow_client.get_workflow(workflow_id, include_tasks=True)
        if found.status in statuses:
            return found
        if time.monotonic() > deadline:
            waiting = [
                f"{t.reference_task_name} {t.status}"
                for t in found.tasks or []
                if t.status in ("SCHEDULED", "IN_PROGRESS")
            ]
            raise StillRunning(
                f"workflow {found.workflow_name} ({workflow_id}) is still {found.status} after "
                f"{timeout:.0f} s"
                + (f", waiting on {', '.join(waiting)}" if waiting else "")
                + ": are its workers running?"
            )
        time.sleep(0.05)
