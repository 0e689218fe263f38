"""Benchmark: the order saga end to end on the local engine and on the real Conductor OSS
server, one after the other in one run (not a test).

    python benchmarks/bench_oms.py [--orders 300] [--engines local,conductor-oss]

* orders/min: ``--orders`` orders started at once (each checked and priced from the
  catalogue, its id an idempotency key) and run to the end by real
  conductor-python workers (TaskHandler processes), with 1 and with 4 processes per task
  type; tasks/s counts the tasks the orders really ran (read back from their executions);
* dispatch overhead: a workflow of 50 no-op worker tasks in a chain, ms per task, against
  a bare HTTP round trip to the same server (the floor any poll or update pays).

Each engine's figures are printed and recorded under its name (the real server is skipped,
saying why, without Java 21+ or its jar). Runs on a private embedded server and engines;
stops with a message if an order does not complete, the audit finds a violation or the
chain does not complete.
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


ENGINES = ("local", "conductor-oss")


def free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument(
        "--engines",
        default=",".join(ENGINES),
        help="comma-separated: local (fdelib's engine), conductor-oss (the real server; "
        "skipped, saying why, without Java 21+ or its jar) (default: %(default)s)",
    )
    args = parser.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    check(set(engines) <= set(ENGINES), f"--engines: choose from {', '.join(ENGINES)}")
    home = tempfile.mkdtemp(prefix="fde-bench-oms-", dir="/tmp")
    # private servers on free ports (the default ones may be in use)
    os.environ.update(
        FDE_HOME=home,
        FDE_ENV_FILE="none",
        PYTHONPATH=str(HERE),
        FDE_ENGINE_PORT=free_port(),
        FDE_CONDUCTOR_OSS_PORT=free_port(),
    )
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("CONDUCTOR_SERVER_URL", None)
    sys.path.insert(0, str(HERE))

    from history import record  # benchmarks/history.py: this machine's earlier runs

    from fdelib import conductor, config, db, stack
    from fdelib.conductor import oss
    from fdelib.errors import StackError

    figures: dict[str, tuple[float, str]] = {}
    try:
        for engine in engines:
            os.environ["FDE_ENGINE"] = engine
            settings = config.reload()
            if engine == "conductor-oss":
                try:
                    oss.find_java()
                    oss.fetch(progress=print)
                    began = time.perf_counter()
                    oss.start(settings, progress=print)
                    print(f"{oss.LABEL} started in {time.perf_counter() - began:.1f} s")
                except StackError as exc:
                    print(f"conductor-oss skipped: {exc}")
                    continue
            print(f"=== engine: {engine} ({conductor.server_url()})")
            for key, value in run_engine(args.orders, engine).items():
                figures[f"{engine}: {key}"] = value
        if len(engines) > 1 and all(f"{e}: dispatch: per task (schedule, poll, update)" in figures for e in engines):
            local, real = (figures[f"{e}: dispatch: per task (schedule, poll, update)"][0] for e in engines)
            print(f"dispatch per task, conductor-oss / local: {real / local:.2f}x")
        record("bench_oms", figures, vars(args))
    finally:
        conductor.local.stop()
        oss.stop(config.reload())
        db.dispose_engines()
        stack.down(config.reload())
        shutil.rmtree(home, ignore_errors=True)


def run_engine(orders_count: int, tag: str) -> dict[str, tuple[float, str]]:
    """The saga and the dispatch figures on the engine the settings name."""
    import requests
    from conductor.client.http.models import TaskDef
    from conductor.client.workflow.conductor_workflow import ConductorWorkflow
    from conductor.client.workflow.task.simple_task import SimpleTask

    from fdelib import conductor, oms
    from fdelib.conductor.workers import Workers
    from fdelib.oms import workflow

    figures = {}
    clients = conductor.clients()
    executor = conductor.executor()
    workflow.register(executor, clients.get_metadata_client())
    prefix = "L" if tag == "local" else "O"  # order ids are idempotency keys: new ones per engine
    print(f"order saga: {orders_count} orders started at once")
    for processes in (1, 4):
        oms.seed(stock=10**6)
        orders = oms.make_orders(orders_count, seed=processes, prefix=f"{prefix}B{processes}")
        with Workers(["fdelib.oms.workers"], processes=processes):
            oms.run_orders(
                clients, oms.make_orders(5, prefix=f"{prefix}W{processes}"), timeout=900, progress=False
            )  # warm up: the worker processes start
            began = time.perf_counter()
            result = oms.run_orders(clients, orders, timeout=600, progress=True)
            took = time.perf_counter() - began
        failed = result[result["workflow"] != "COMPLETED"]
        check(failed.empty, f"{len(failed)} order(s) did not complete, e.g. {failed['order_id'].head(3).tolist()}")
        audit = oms.audit(initial_stock=10**6, clients=clients)
        check((audit == 0).all(), f"the audit found violations: {audit[audit != 0].to_dict()}")
        tasks, by_workers = count_tasks(clients, result["workflow_id"])
        figures[f"saga: {processes} process(es) per task type"] = (orders_count / took * 60, "orders/min")
        figures[f"saga: {processes} process(es) per task type, tasks"] = (tasks / took, "tasks/s")
        print(
            f"  {processes} process(es) per task type: {orders_count / took * 60:8,.0f} orders/min "
            f"({took:.1f} s; {tasks / took:,.0f} tasks/s; {tasks / orders_count:.1f} tasks per order, "
            f"{by_workers / orders_count:.1f} by workers)"
        )

    noop = TaskDef(name="bench_noop", retry_count=0, response_timeout_seconds=60)
    clients.get_metadata_client().register_task_def(noop)
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
        session.get(url + "/version", timeout=5)  # the same small answer from both engines
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
    return figures


if __name__ == "__main__":
    main()
