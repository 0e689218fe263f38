"""Benchmark: the executions explorer on the local engine (not a test; prints figures).

    python benchmarks/bench_explorer.py [--runs 10000] [--tasks 500]

* the Executions list: ``--runs`` executions of three workflow types (completed and failed,
  with correlation ids) started over HTTP; then the newest page, a filtered page (type, status,
  start time), a correlation id found by free text, and a deep page, each as the explorer
  fetches it (``/workflow/search`` + its view-model) and as its widget shows it;
* opening a run of ``--tasks`` tasks: ``GET /workflow/{id}`` and the Run view (graph, task
  list, timeline, the widget);

each the median of several, beside a bare HTTP round trip to the same server (the baseline).
Runs on a private embedded server and engine.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def check(ok: bool, message: str) -> None:
    if not ok:
        raise SystemExit(f"bench_explorer: {message}")


def median_s(action, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        action()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--tasks", type=int, default=500)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="fde-bench-explorer-", dir="/tmp")
    with socket.socket() as sock:  # a private engine on a free port
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    os.environ.update(FDE_HOME=home, FDE_ENV_FILE="none", FDE_ENGINE_PORT=port)
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("CONDUCTOR_SERVER_URL", None)
    sys.path.insert(0, str(HERE))

    import requests
    from history import record  # benchmarks/history.py: this machine's earlier runs

    from fdelib import conductor, config, stack
    from fdelib.conductor.ui import views
    from fdelib.conductor.ui.api import ConductorAPI
    from fdelib.conductor.ui.widget import Explorer

    figures: dict = {}
    try:
        api_url = conductor.server_url()
        api = ConductorAPI(api_url)
        http = requests.Session()
        types = ["bench_orders", "bench_prices", "bench_refunds"]
        stop: dict[str, Any] = {"name": "stop", "taskReferenceName": "stop", "type": "TERMINATE"}
        stop["inputParameters"] = {"terminationStatus": "FAILED", "terminationReason": "card declined"}
        route = {
            "name": "route",
            "taskReferenceName": "route",
            "type": "SWITCH",
            "evaluatorType": "value-param",
            "expression": "end",
            "inputParameters": {"end": "${workflow.input.end}"},
            "decisionCases": {"FAILED": [stop]},
            "defaultCase": [],
        }
        defs: list[dict[str, Any]] = [{"name": n, "version": 1, "schemaVersion": 2, "tasks": [route]} for n in types]
        chain = [
            {"name": f"step_{i}", "taskReferenceName": f"step_{i}", "type": "SET_VARIABLE", "inputParameters": {"i": i}}
            for i in range(args.tasks)
        ]
        defs.append({"name": "bench_long", "version": 1, "schemaVersion": 2, "tasks": chain})
        http.put(f"{api_url}/metadata/workflow", json=defs, timeout=30).raise_for_status()

        def start(i: int) -> str:
            failed = i % 7 == 0
            body: dict[str, Any] = {
                "name": types[i % 3],
                "version": 1,
                "correlationId": f"ORD-{i:06d}",
                "input": {"end": "FAILED" if failed else "COMPLETED", "n": i},
            }
            return http.post(f"{api_url}/workflow", json=body, timeout=30).text

        t0 = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(start, range(args.runs)))
        took = time.perf_counter() - t0
        print(f"{args.runs:,} executions started over HTTP in {took:.1f} s ({args.runs / took:,.0f}/s)")
        check(len(set(ids)) == args.runs, "some starts failed")

        baseline = median_s(lambda: http.get(f"{api_url}/health", timeout=10), repeat=20)
        print(f"baseline: a bare HTTP round trip {baseline * 1000:.2f} ms")
        figures["round_trip_ms"] = (baseline * 1000, "ms")

        def listed(filter_: views.Filter, page: int = 0) -> views.Page:
            found = views.Page.of(api.search(**filter_.params(page)), page)
            [views.row_label(r) for r in found.rows]
            return found

        since = int(time.time() * 1000) - 3600_000
        cases = {
            "newest page": (views.Filter(), 0),
            "failed bench_orders in the last hour": (
                views.Filter(workflow="bench_orders", statuses=views.FAILED, since_ms=since),
                0,
            ),
            "a correlation id, by free text": (views.Filter(free_text=f"ORD-{args.runs // 2:06d}"), 0),
            "a deep page": (views.Filter(), max(0, args.runs // views.PAGE_SIZE - 2)),
        }
        for label, (filter_, page) in cases.items():
            found = listed(filter_, page)
            check(found.total > 0 and bool(found.rows), f"{label}: nothing found")
            check(len(found.rows) <= views.PAGE_SIZE, f"{label}: more than a page came back")
            seconds = median_s(lambda f=filter_, p=page: listed(f, p))
            key = label.split(",")[0].replace(" ", "_")
            figures[f"list_{key}_ms"] = (seconds * 1000, "ms")
            print(
                f"list {label}: {seconds * 1000:.1f} ms for {len(found.rows)} of {found.total:,} "
                f"({seconds / baseline:.0f}x a round trip)"
            )

        explorer = Explorer(api_url, refresh_seconds=3600)
        try:
            explorer.status_choice.value = ("FAILED",)
            widget_list = median_s(explorer.search)
            check(explorer.page.total > 0, "the widget found no failed run")
            figures["widget_list_ms"] = (widget_list * 1000, "ms")
            print(f"the widget's list of failed runs: {widget_list * 1000:.1f} ms ({widget_list / baseline:.0f}x)")

            long_id = http.post(f"{api_url}/workflow", json={"name": "bench_long", "version": 1}, timeout=60).text
            run = api.workflow(long_id)
            check(len(run["tasks"]) == args.tasks, f"the long run has {len(run['tasks'])} tasks")
            fetch = median_s(lambda: api.workflow(long_id))

            def view() -> None:
                found = api.workflow(long_id)
                views.run_graph(found)
                views.task_table(views.task_rows(found), views.LIVE_COLUMNS)
                views.timeline(found)

            opened = median_s(view)
            in_widget = median_s(lambda: explorer.open_run(long_id))
            for name, value in (("run_fetch_ms", fetch), ("run_view_ms", opened), ("widget_open_run_ms", in_widget)):
                figures[name] = (value * 1000, "ms")
            print(
                f"a run of {args.tasks} tasks: GET {fetch * 1000:.1f} ms, the Run view {opened * 1000:.1f} ms, "
                f"in the widget {in_widget * 1000:.1f} ms ({in_widget / baseline:.0f}x a round trip)"
            )
        finally:
            explorer.close()
        record("bench_explorer", figures, vars(args))
    finally:
        stack.down(config.reload())
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
