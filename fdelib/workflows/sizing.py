"""Right-sized tasks: what a retry costs when a task is too big, and what too small costs.

An engine retries a **task**, never half of one: when a task fails part-way, the retry starts it
again from its first record. So the bigger the task, the more finished work a failure throws
away; the smaller, the more tasks there are to schedule, record and poll for (each one a queue
message, a poll, an update and a row of execution history).

:func:`load` splits a load of ``records`` into tasks of ``task_size`` and runs them in order, as
an engine would: each task processes its records one by one, and the task that holds record
``fail_at`` fails once, just before that record (a dropped connection), and is retried from its
start. It counts the work really done — records processed, records redone, tasks scheduled — so
the comparison is in work units, not in seconds.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd


class TransientFailure(Exception):
    """The connection dropped mid-task (the engine will retry the task)."""


@dataclasses.dataclass
class LoadRun:
    records: int
    task_size: int
    tasks_scheduled: int = 0  # attempts the engine scheduled (retries included)
    processed: int = 0  # records the tasks processed (each redone record counts again)
    stored: set = dataclasses.field(default_factory=set)  # what the target holds (keyed: idempotent)

    @property
    def redone(self) -> int:
        return self.processed - self.records


def _task(run: LoadRun, first: int, last: int, fail_at: int | None) -> None:
    """One task: records ``first`` to ``last - 1``, written one by one (an idempotent upsert)."""
    for record in range(first, last):
        if record == fail_at:
            raise TransientFailure(f"connection dropped at record {record}")
        run.processed += 1
        run.stored.add(record)


def load(records: int, task_size: int, fail_at: int, retries: int = 3) -> LoadRun:
    """Load ``records`` in tasks of ``task_size``; the task holding ``fail_at`` fails once there and
    is retried from its start. Returns what was done."""
    if not 0 <= fail_at < records:
        raise ValueError(f"fail_at must be a record of the load (0 to {records - 1})")
    run = LoadRun(records, task_size)
    for first in range(0, records, task_size):
        last = min(first + task_size, records)
        failing = fail_at if first <= fail_at < last else None
        for _attempt in range(retries + 1):
            run.tasks_scheduled += 1
            try:
                _task(run, first, last, failing)
                break
            except TransientFailure:
                failing = None  # transient: the retry gets through
    if len(run.stored) != records:
        raise RuntimeError("the load lost records")  # never: every task ends complete
    return run


def failure_position(seed: int, records: int) -> int:
    """Where the connection drops: a seeded record in the second half of the load."""
    return int(np.random.default_rng(seed).integers(records // 2, records))


def compare(records: int, sizes: list[int], fail_at: int, overhead: int) -> pd.DataFrame:
    """One row per task size: tasks scheduled, records processed, records redone by the retry, and
    the total cost in record-units when scheduling a task costs as much as ``overhead`` records."""
    rows = []
    for size in sizes:
        run = load(records, size, fail_at)
        rows.append(
            {
                "task size (records)": size,
                "tasks scheduled": run.tasks_scheduled,
                "records processed": run.processed,
                "records redone": run.redone,
                "total cost (record units)": run.processed + overhead * run.tasks_scheduled,
            }
        )
    return pd.DataFrame(rows).set_index("task size (records)")


def expected_waste(records: int, sizes: list[int], overhead: int) -> pd.DataFrame:
    """The work beyond the load itself when one failure may hit *any* record with equal chance, per
    task size: records redone by the retry (on average, the part of its task before the failure),
    scheduling overhead (every task plus the retry, ``overhead`` record units each), and their sum.
    Long form, for plotting."""
    position = np.arange(records)
    rows = []
    for size in sizes:
        redone = float((position % size).mean())  # a task restarts from its first record
        scheduling = overhead * (-(-records // size) + 1)  # every task, plus the one retry
        rows += [
            (size, "records redone by the retry (average)", redone),
            (size, "scheduling overhead", scheduling),
            (size, "waste: both together", redone + scheduling),
        ]
    return pd.DataFrame(rows, columns=["task size (records)", "cost", "record units"])
