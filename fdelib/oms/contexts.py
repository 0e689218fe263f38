"""Microservices, read off the code: bounded contexts, cohesion, independent deployment.

* :func:`task_owners` — which service each Conductor task type calls (from the workers'
  code: the ``services.<function>`` each worker calls, and the module that function is in);
* :func:`table_access` — which tables each service writes and reads (from the SQL in its
  module, and in the shared helpers it imports);
* :func:`contexts` — the two together: each service's bounded context (the tables only it
  writes, the task types only it serves) and what it reads across the boundary;
* :func:`rolling_upgrade` — one service's workers replaced by a new version while orders
  keep flowing and the other services' worker processes keep running.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import textwrap
import time
from types import ModuleType

import pandas as pd

from .. import db
from . import services

WORKER_MODULE = "fdelib.oms.workers"
_WRITE = re.compile(r"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+oms\.(\w+)", re.IGNORECASE)
_READ = re.compile(r"\b(?:FROM|JOIN)\s+oms\.(\w+)", re.IGNORECASE)


def _service_name(module: str) -> str:
    return module.rsplit(".", 1)[-1]


def task_owners(worker_module: str = WORKER_MODULE) -> pd.DataFrame:
    """One row per task type: the worker function, the service function it calls, its service."""
    from ..conductor.workers import module_workers

    rows = []
    for (task, _), record in sorted(module_workers(worker_module).items()):
        tree = ast.parse(textwrap.dedent(inspect.getsource(record["func"])))
        called = sorted(
            {
                node.attr
                for node in ast.walk(tree)
                if isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "services"
                and callable(getattr(services, node.attr, None))
                and not getattr(services, node.attr).__module__.endswith(".common")
            }
        )
        for name in called:
            rows.append(
                {
                    "task type": task,
                    "worker": record["func"].__name__,
                    "calls": f"services.{name}",
                    "service": _service_name(getattr(services, name).__module__),
                }
            )
    return pd.DataFrame(rows)


def service_modules() -> dict[str, ModuleType]:
    """The services the workers call, by name (``payment`` -> fdelib.oms.services.payment)."""
    names = sorted(set(task_owners()["service"]))
    return {name: importlib.import_module(f"{services.__name__}.{name}") for name in names}


def _code(module: ModuleType) -> str:
    """The module's source and that of every helper it imports from the services' common code."""
    source = inspect.getsource(module)
    shared = [
        alias.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and node.module == "common"
        for alias in node.names
    ]
    from .services import common

    return "\n".join(
        [source]
        + [inspect.getsource(getattr(common, name)) for name in shared if inspect.isfunction(getattr(common, name))]
    )


def table_access() -> pd.DataFrame:
    """One row per service and ``oms`` table it touches: ``writes`` or ``reads``."""
    rows = []
    for name, module in service_modules().items():
        code = _code(module)
        writes = set(_WRITE.findall(code))
        reads = set(_READ.findall(code)) - writes
        rows += [{"service": name, "table": t, "access": "writes"} for t in sorted(writes)]
        rows += [{"service": name, "table": t, "access": "reads"} for t in sorted(reads)]
    return pd.DataFrame(rows)


def access_matrix() -> pd.DataFrame:
    """Services x tables: W (writes), r (reads), blank (never touches)."""
    access = table_access()
    access["mark"] = access["access"].map({"writes": "W", "reads": "r"})
    return access.pivot(index="service", columns="table", values="mark").fillna("")


def contexts() -> pd.DataFrame:
    """Each service's bounded context: what it alone writes, the tasks it alone serves, and
    what it reads from other contexts (the coupling that remains)."""
    access, tasks = table_access(), task_owners()
    writers = access[access["access"] == "writes"].groupby("table")["service"].nunique()
    rows = []
    for name in sorted(set(access["service"])):
        own = access[(access["service"] == name) & (access["access"] == "writes")]["table"]
        reads = access[(access["service"] == name) & (access["access"] == "reads")]["table"]
        rows.append(
            {
                "service": name,
                "owns (only it writes)": ", ".join(t for t in own if writers[t] == 1),
                "shares writing": ", ".join(t for t in own if writers[t] > 1),
                "task types": ", ".join(sorted(set(tasks[tasks["service"] == name]["task type"]))),
                "reads from other contexts": ", ".join(reads),
            }
        )
    return pd.DataFrame(rows).set_index("service")


def cohesion() -> pd.DataFrame:
    """Per service: its public functions, and the share of its writes that land in tables it
    owns (1.0: everything it changes is its own business)."""
    access = table_access()
    writes = access[access["access"] == "writes"]
    writers = writes.groupby("table")["service"].nunique()
    rows = []
    for name, module in service_modules().items():
        mine = writes[writes["service"] == name]["table"]
        functions = [
            f
            for f, obj in vars(module).items()
            if inspect.isfunction(obj) and not f.startswith("_") and obj.__module__ == module.__name__
        ]
        rows.append(
            {
                "service": name,
                "functions": ", ".join(functions),
                "writes to own tables": round(float((writers[mine] == 1).mean()), 2) if len(mine) else 1.0,
            }
        )
    return pd.DataFrame(rows).set_index("service")


def events(log: pd.DataFrame) -> pd.DataFrame:
    """The choreography's services: the events each reacts to (its subscriptions, in the code)
    and the events it published (in ``log``, an event log from :func:`.choreography.run`)."""
    from .choreography import SUBSCRIPTIONS

    reacts: dict[str, set[str]] = {}
    for kind, subscribers in SUBSCRIPTIONS.items():
        for service, _ in subscribers:
            reacts.setdefault(service, set()).add(kind)
    published = log.groupby("source")["kind"].agg(lambda kinds: ", ".join(sorted(set(kinds))))
    names = sorted(set(reacts) | set(published.index))
    return pd.DataFrame(
        {
            "reacts to": [", ".join(sorted(reacts.get(n, ()))) for n in names],
            "published": [published.get(n, "") for n in names],
        },
        index=pd.Index(names, name="service"),
    )


def payment_output(clients, order_id: str) -> pd.Series:
    """What the payment task of the workflow that placed ``order_id`` answered."""
    workflow_id = db.read_scalar("SELECT workflow_id FROM oms.orders WHERE order_id = :o", {"o": order_id})
    run = clients.get_workflow_client().get_workflow(workflow_id, include_tasks=True)
    done = [t for t in run.tasks if t.reference_task_name == "payment" and t.status == "COMPLETED"]
    return pd.Series(done[-1].output_data, name=order_id).sort_index()


def rolling_upgrade(
    clients,
    orders: list[dict],
    *,
    service: str = "payment",
    new_version: str = "fdelib.oms.payment_v2",
    initial_stock: int = 100,
    timeout: float = 300,
) -> pd.Series:
    """Replace one service's workers with a new version while orders flow.

    The other services' workers start once and run throughout. The service's current workers
    take the first half of ``orders``; once they have done some of the work, the new version
    starts polling the same task queue, the old one is stopped (a task it held is timed out
    and retried by the new version: the service is idempotent), and the second half of the
    orders is placed. Returns what a release manager checks.
    """
    from ..conductor.workers import Workers
    from .orders import audit, start_orders, wait_for

    tasks = task_owners()
    own = sorted(set(tasks[tasks["service"] == service]["task type"]))
    others = sorted(set(tasks["task type"]) - set(own))
    first, second = orders[: len(orders) // 2], orders[len(orders) // 2 :]
    with Workers([WORKER_MODULE], tasks=others) as rest:
        before = sorted(rest.pids())
        old = Workers([WORKER_MODULE], tasks=own).start()
        try:
            started = start_orders(clients, first)
            _wait_until(
                lambda: (
                    db.read_scalar(
                        "SELECT count(*) FROM oms.orders WHERE order_id = ANY(:o) AND status = 'COMPLETED'",
                        {"o": [o["order_id"] for o in first]},
                    )
                    > 0
                ),
                timeout,
                "no order of the first wave completed",
            )
            with Workers([new_version], tasks=own):
                old.stop()
                started += start_orders(clients, second)
                result = wait_for(clients, started, orders, timeout=timeout, progress=False)
        finally:
            old.stop()
        after = sorted(rest.pids())
    versions = [_version(clients, workflow_id, own) for workflow_id in result["workflow_id"]]
    half = len(first)
    return pd.Series(
        {
            "orders placed during the upgrade": len(orders),
            "completed": int((result["workflow"] == "COMPLETED").sum()),
            "first wave: some served by the old version": 1 in versions[:half],
            "second wave: all served by the new version": set(versions[half:]) == {2},
            "other services' worker processes restarted": len(set(before) ^ set(after)),
            "audit violations": int(audit(initial_stock=initial_stock, clients=clients).sum()),
        },
        name=f"{service}: v1 -> v2",
    )


def _version(clients, workflow_id: str, task_types: list[str]) -> int:
    """The version of the service that completed the workflow's task of these types."""
    run = clients.get_workflow_client().get_workflow(workflow_id, include_tasks=True)
    done = [t for t in run.tasks if t.task_def_name in task_types and t.status == "COMPLETED"]
    return int((done[-1].output_data or {}).get("service_version", 1)) if done else 0


def _wait_until(condition, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{message} within {timeout:.0f} s: are the workers running?")
        time.sleep(0.05)


def plot_access() -> None:
    """:func:`table_access` counted per service: the tables it writes (its context's own) and
    the tables of other contexts it reads (the coupling that remains)."""
    from .. import viz

    access = table_access()
    counts = access.groupby(["service", "access"]).size().rename("tables").reset_index()
    viz.bars(
        counts,
        x="service",
        y="tables",
        by="access",
        title="What each service touches, read off its code",
        ylabel="oms tables",
    )
