"""Benchmark: the order saga end to end on the local engine (not a test).

    python benchmarks/bench_oms.py [--orders 300]

* orders/min: ``--orders`` orders started at once (each checked and priced from the
  catalogue, its id an idempotency key) and run to the end by real
  conductor-python workers (TaskHandler processes), with 1 and with 4 processes per task
  type; tasks/s counts the tasks the orders really ran (read back from their executions);
* dispatch overhead: a workflow of 50 no-op worker tasks in a chain, ms per task, against
  a bare HTTP round trip to the same server (the floor any poll or update pays).

Runs on a private embedded server and engine; prints figures, and stops with a message if an
order does not complete, the audit finds a violation or the chain does not complete.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: task types the engine runs itself (no worker involved)
SYSTEM_TASKS = frozenset(
    {"FORK", "FORK_JOIN", "FORK_JOIN_DYNAMIC", "JOIN", "SWITCH", "DECISION", "TERMINATE", "SET_VARIABLE"}
)


def check(ok: bool, message: str) -> None:
    """Stop the benchmark with ``message`` unless ``ok`` (benchmarks do not assert)."""
    if not ok:
        raise SystemExit(f"bench_oms: {message}")


def count_tasks(clients, workflow_ids) -> tuple[int, int]:
    """How many tasks these workflows ran (retries included), and how many of them by workers."""
    total = by_workers = 0
    for workflow_id in workflow_ids:
        tasks = clients.get_workflow_client().get_workflow(workflow_id, include_tasks=True).tasks
        total += len(tasks)
        by_workers += sum(t.task_type not in SYSTEM_TASKS for t in tasks)
    return total, by_workers


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=300)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="fde-bench-oms-", dir="/tmp")
    with socket.socket() as sock:  # a private engine on a free port (the default one may be in use)
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    os.environ.update(FDE_HOME=home, FDE_ENV_FILE="none", PYTHONPATH=str(HERE), FDE_ENGINE_PORT=port)
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("CONDUCTOR_SERVER_URL", None)
    sys.path.insert(0, str(HERE))

    import requests
    from conductor.client.http.models import TaskDef
    from conductor.client.workflow.conductor_workflow import ConductorWorkflow
    from conductor.client.workflow.task.simple_task import SimpleTask
    from history import record  # benchmarks/history.py: this machine's earlier runs

    from fdelib import conductor, config, db, oms, stack
    from fdelib.conductor.workers import Workers
    from fdelib.oms import workflow

    figures = {}

    try:
        clients = conductor.clients()
        executor = conductor.executor()
        workflow.register(executor, clients.get_metadata_client())
        print(f"order saga: {args.orders} orders started at once")
        for processes in (1, 4):
            oms.seed(stock=10**6)
            orders = oms.make_orders(args.orders, seed=processes, prefix=f"B{processes}")
            with Workers(["fdelib.oms.workers"], processes=processes):
                oms.run_orders(
                    clients, oms.make_orders(5, prefix=f"W{processes}"), timeout=900, progress=False
                )  # warm up: the worker processes start
                began = time.perf_counter()
                result = oms.run_orders(clients, orders, timeout=600, progress=True)
                took = time.perf_counter() - began
            failed = result[result["workflow"] != "COMPLETED"]
            check(failed.empty, f"{len(failed)} order(s) did not complete, e.g. {failed['order_id'].head(3).tolist()}")
            audit = oms.audit(initial_stock=10**6, clients=clients)
            check((audit == 0).all(), f"the audit found violations: {audit[audit != 0].to_dict()}")
            tasks, by_workers = count_tasks(clients, result["workflow_id"])
            figures[f"saga: {processes} process(es) per task type"] = (args.orders / took * 60, "orders/min")
            figures[f"saga: {processes} process(es) per task type, tasks"] = (tasks / took, "tasks/s")
            print(
                f"  {processes} process(es) per task type: {args.orders / took * 60:8,.0f} orders/min "
                f"({took:.1f} s; {tasks / took:,.0f} tasks/s; {tasks / args.orders:.1f} tasks per order, "
                f"{by_workers / args.orders:.1f} by workers)"
            )

        clients.get_metadata_client().register_task_def(
            TaskDef(name="bench_noop", retry_count=0, response_timeout_seconds=60)
        )
        chain = ConductorWorkflow(executor=executor, name="bench_chain", version=1)
        for i in range(50):
            task = SimpleTask("bench_noop", f"t{i}")
            task.input_parameters.update(n=i)
            chain >> task
        chain.register(overwrite=True)
        url = conductor.server_url()
        session = requests.Session()
        rtts = []
        for _ in range(200):
            began = time.perf_counter()
            session.get(url + "/health", timeout=5)
            rtts.append(time.perf_counter() - began)
        with Workers(["noop_worker"]):
            chain.execute(workflow_input={}, wait_for_seconds=60)  # warm up
            per_task = []
            for _ in range(3):
                began = time.perf_counter()
                run = chain.execute(workflow_input={}, wait_for_seconds=60)
                per_task.append((time.perf_counter() - began) / 50)
                check(run.status == "COMPLETED", f"the chain of 50 no-op tasks ended {run.status}")
        print("dispatch: a chain of 50 no-op worker tasks")
        print(f"  bare HTTP round trip to the engine : {statistics.median(rtts) * 1000:6.2f} ms (baseline)")
        print(
            f"  per task (schedule, poll, update)  : {min(per_task) * 1000:6.2f} ms "
            f"({min(per_task) / statistics.median(rtts):.0f}x the round trip)"
        )
        figures["dispatch: bare HTTP round trip (baseline)"] = (statistics.median(rtts) * 1000, "ms")
        figures["dispatch: per task (schedule, poll, update)"] = (min(per_task) * 1000, "ms")
        record("bench_oms", figures, vars(args))
    finally:
        conductor.local.stop()
        db.dispose_engines()
        stack.down(config.reload())
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
