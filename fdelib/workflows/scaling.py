"""Scalability of a WMS, measured: the same workflow with 1, 2, 4 workers per task type.

The workflow prices ``tasks`` instruments in parallel (a dynamic fork of one ``wms_price_instrument``
task per instrument, then a join). Each task waits ``task_ms`` for a (simulated) pricing service —
I/O, as most workflow tasks are. Scaling out changes nothing in the definition: more workers poll
the same queue, and the engine hands each task to exactly one of them.

:func:`measure` runs it once per worker count (:class:`~.threads.ThreadWorkers`: conductor-python
runners in threads, so starting 1, 2 or 4 workers takes milliseconds) and reads the engine's own
record of the run: when each task started and ended. :func:`model` is the arithmetic of the ideal
case — the tasks run in waves of ``workers``, each wave lasting ``task_ms`` — and :func:`verdict`
states what the measurement shows as facts that hold from run to run (how many tasks ran at once;
whether the speed-up reached at least half the model's), because milliseconds measured on a shared
machine do not. (No ``from __future__ import annotations``: conductor-python reads the worker's
annotations as types.)
"""

import math
import time

import pandas as pd
from conductor.client.http.models import StartWorkflowRequest, TaskDef
from conductor.client.workflow.conductor_workflow import ConductorWorkflow
from conductor.client.workflow.task.dynamic_fork_task import DynamicForkTask
from conductor.client.workflow.task.join_task import JoinTask

WORKFLOW = "wms_scale_out"
TASK = "wms_price_instrument"


def price_instrument(instrument: str, task_ms: int) -> dict:
    """Ask the (simulated) pricing service: it answers after ``task_ms`` milliseconds."""
    time.sleep(task_ms / 1000)
    return {"instrument": instrument, "priced": True}


def register(executor, metadata_client) -> ConductorWorkflow:
    metadata_client.register_task_def(
        TaskDef(
            name=TASK,
            retry_count=0,
            response_timeout_seconds=30,
            timeout_seconds=0,
            owner_email="course@fde.example.com",
        )
    )
    workflow = ConductorWorkflow(
        executor=executor,
        name=WORKFLOW,
        version=1,
        description="Price instruments in parallel: one task per instrument",
    )
    fan_out = DynamicForkTask("price_all", join_task=JoinTask("price_all_join"))
    fan_out.input_parameters.update(
        dynamicTasks="${workflow.input.tasks}", dynamicTasksInputs="${workflow.input.inputs}"
    )
    workflow >> fan_out
    workflow.timeout_seconds(300)
    workflow.register(overwrite=True)
    return workflow


def run_input(tasks: int, task_ms: int) -> dict:
    refs = [f"price_{i:02d}" for i in range(tasks)]
    return {
        "tasks": [{"name": TASK, "taskReferenceName": ref, "type": "SIMPLE"} for ref in refs],
        "inputs": {ref: {"instrument": f"INSTR{i:02d}", "task_ms": task_ms} for i, ref in enumerate(refs)},
    }


def peak_in_progress(frame: pd.DataFrame) -> int:
    """Most tasks in progress at the same moment, from their start and end times."""
    events = sorted(
        [(t, 1) for t in frame["start_ms"]] + [(t, -1) for t in frame["end_ms"]], key=lambda event: (event[0], event[1])
    )  # an end before a start at a tie
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def measure(workflow_client, workers: list[int], tasks: int = 8, task_ms: int = 200) -> pd.DataFrame:
    """Run the workflow once per worker count; from the engine's history: the makespan (first task
    scheduled to last task ended), the throughput and the most tasks in progress at once."""
    from ..conductor import history
    from .threads import ThreadWorkers

    rows = []
    with ThreadWorkers({TASK: price_instrument}, per_type=max(workers)) as pool:
        for count in workers:
            pool.scale(count)
            run_id = workflow_client.start_workflow(
                StartWorkflowRequest(name=WORKFLOW, version=1, input=run_input(tasks, task_ms))
            )
            done = history.wait(workflow_client, run_id, timeout=60)
            if done.status != "COMPLETED":
                raise RuntimeError(f"scaling run with {count} worker(s) ended {done.status}")
            priced = history.tasks(done)
            priced = priced[priced["type"] == TASK]
            makespan = (priced["end_ms"].max() - priced["scheduled_ms"].min()) / 1000
            rows.append(
                {
                    "workers": count,
                    "tasks": len(priced),
                    "makespan_s": makespan,
                    "throughput": len(priced) / makespan,
                    "peak_in_progress": peak_in_progress(priced),
                }
            )
    return pd.DataFrame(rows)


def model(workers: list[int], tasks: int = 8, task_ms: int = 200) -> pd.DataFrame:
    """The ideal case: tasks run in waves of ``workers``; each wave takes ``task_ms``."""
    rows = []
    for count in workers:
        makespan = math.ceil(tasks / count) * task_ms / 1000
        rows.append(
            {
                "workers": count,
                "tasks": tasks,
                "makespan_s": makespan,
                "throughput": tasks / makespan,
                "curve": f"model ({tasks} tasks of {task_ms} ms)",
            }
        )
    return pd.DataFrame(rows)


def verdict(measured: pd.DataFrame, modelled: pd.DataFrame) -> pd.DataFrame:
    """Per worker count: tasks in progress at once (measured), the model's speed-up over the
    smallest worker count, and whether the measured speed-up reached at least half of it."""
    measured, modelled = measured.set_index("workers").sort_index(), modelled.set_index("workers").sort_index()
    base = measured.index[0]
    model_speedup = modelled["throughput"] / modelled["throughput"].loc[base]
    measured_speedup = measured["throughput"] / measured["throughput"].loc[base]
    return pd.DataFrame(
        {
            "tasks in progress at once (measured)": measured["peak_in_progress"],
            f"model: speed-up over {base} worker{'s' if base > 1 else ''}": model_speedup.round(1),
            "measured >= half of it": measured_speedup >= 0.5 * model_speedup,
        }
    ).rename_axis("workers per task type")
