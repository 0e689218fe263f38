"""A workflow as a DAG of small tasks: build it, check it, order it, run it.

This is the smallest useful workflow runner, for lessons: the ordering and cycle
detection come from the standard library's :mod:`graphlib`; drawing uses networkx. Real
orchestration (retries, timeouts, persistence, workers) is the Conductor engine's job.

>>> dag = DAG("daily prices")
>>> dag.task("fetch", lambda ctx: [1, 2, 3])
>>> dag.task("load", lambda ctx: len(ctx["fetch"]), after=["fetch"])
>>> dag.run()["load"]
3
"""

from __future__ import annotations

import dataclasses
import functools
import graphlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..errors import FdeError

Task = Callable[[dict[str, Any]], Any]


class CycleError(FdeError):
    """The tasks' dependencies form a loop, so no order can satisfy them."""


class DependencyError(FdeError):
    """A task depends on a task that does not exist."""


@dataclasses.dataclass(frozen=True)
class LogEntry:
    step: int  # position in execution order
    level: int  # parallel level (tasks of one level may run at the same time)
    task: str
    status: str  # "done" or "failed"
    detail: str = ""


class DAG:
    """Tasks with dependencies. Each task gets a context dict with its upstream results."""

    def __init__(self, name: str):
        self.name = name
        self._tasks: dict[str, Task] = {}
        self._after: dict[str, tuple[str, ...]] = {}
        self.log: list[LogEntry] = []

    def task(self, name: str, func: Task, after: list[str] | tuple[str, ...] = ()) -> None:
        if name in self._tasks:
            raise FdeError(f"task {name!r} is already in workflow {self.name!r}")
        self._tasks[name] = func
        self._after[name] = tuple(after)

    @property
    def edges(self) -> list[tuple[str, str]]:
        return [(up, down) for down, ups in self._after.items() for up in ups]

    def _sorter(self) -> graphlib.TopologicalSorter:
        missing = sorted({u for ups in self._after.values() for u in ups} - set(self._tasks))
        if missing:
            raise DependencyError(f"workflow {self.name!r}: unknown upstream task(s) {', '.join(missing)}")
        return graphlib.TopologicalSorter(self._after)

    def check(self) -> None:
        """Raise :class:`CycleError` naming the loop, if there is one."""
        try:
            self._sorter().prepare()
        except graphlib.CycleError as exc:
            cycle = exc.args[1]
            raise CycleError(
                f"workflow {self.name!r} has a cycle: {' -> '.join(cycle)}; a workflow must be acyclic to have an order"
            ) from None

    def order(self) -> list[str]:
        """One valid execution order (ties broken by name, so it is stable)."""
        return [task for level in self.levels() for task in level]

    def levels(self) -> list[list[str]]:
        """Tasks grouped by the earliest step they can run at: each group can run in parallel."""
        self.check()
        sorter = self._sorter()
        sorter.prepare()
        levels = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready())
            levels.append(ready)
            sorter.done(*ready)
        return levels

    def run(
        self, context: dict[str, Any] | None = None, *, parallel: bool = False, max_workers: int = 4
    ) -> dict[str, Any]:
        """Run every task once in dependency order; return each task's result.

        A failing task stops the run (its downstream tasks never start) and is re-raised
        after being logged, so the log shows exactly how far the workflow got.
        """
        results: dict[str, Any] = dict(context or {})
        self.log = []
        for depth, level in enumerate(self.levels()):
            if parallel and len(level) > 1:
                with ThreadPoolExecutor(max_workers=max_workers) as pool:
                    futures = {name: pool.submit(self._tasks[name], results) for name in level}
                    outcomes = {name: _outcome(f.result) for name, f in futures.items()}
            else:
                outcomes = {name: _outcome(functools.partial(self._tasks[name], results)) for name in level}
            for name in level:
                value, error = outcomes[name]
                self.log.append(
                    LogEntry(
                        len(self.log) + 1,
                        depth,
                        name,
                        "failed" if error else "done",
                        f"{type(error).__name__}: {error}" if error else "",
                    )
                )
                if error:
                    raise error
                results[name] = value
        return results

    def log_frame(self):
        """The last run's log as a table."""
        import pandas as pd

        return pd.DataFrame(
            [dataclasses.asdict(e) for e in self.log], columns=["step", "level", "task", "status", "detail"]
        ).set_index("step")

    def graph(self):
        """The workflow as a networkx DiGraph (for drawing)."""
        import networkx as nx

        graph = nx.DiGraph()
        graph.add_nodes_from(self._tasks)
        graph.add_edges_from(self.edges)
        return graph


def _outcome(call: Callable[[], Any]) -> tuple[Any, BaseException | None]:
    try:
        return call(), None
    except Exception as exc:  # recorded in the log, then re-raised by run()
        return None, exc
