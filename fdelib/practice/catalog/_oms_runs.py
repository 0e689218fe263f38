"""How the 04_oms workflow exercises are checked: real orders through the learner's workflow.

A check registers the learner's definition under a name of its own
(``practice_<exercise>_<hash>``, never a lesson's), places fresh test orders (new order ids
every time: the order id is the shop's idempotency key), waits until each workflow and its
compensation have ended, and reads what happened twice: from the engine (which tasks ran,
in which order) and from the services' tables (the order's status, the money kept, the
stock held). Then it deletes its test orders and puts their stock back, so the lesson's
shop and its audit are as they were. The workers the workflow needs must be polling.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import uuid
from typing import Any

import requests
import sqlalchemy as sa

from ... import db
from ...oms.orders import PRODUCTS
from ..base import MISSING, Exercise, ExerciseError, answer_of, run_cell
from ..workflowcheck import TERMINAL, definition_of, engine_message

PRICES = {sku: float(price) for sku, _, price in PRODUCTS}
SMALL = ("the small order (1 x SKU-MUG, 12.00)", [{"sku": "SKU-MUG", "quantity": 1}])
LARGE = ("the large order (3 x SKU-BOOK, 177.00)", [{"sku": "SKU-BOOK", "quantity": 3}])


def test_order(items: list[dict], tag: str) -> dict[str, Any]:
    """A client order the check places: a new order id every time."""
    return {
        "order_id": f"CHECK-{tag}-{uuid.uuid4().hex[:12]}",
        "customer_id": "C0001",
        "items": items,
        "amount": round(sum(PRICES[i["sku"]] * i["quantity"] for i in items), 2),
        "address": "1 Check Street, Springfield",
        "received_at": "2026-01-02T10:00:00+00:00",
    }


def _server() -> str:
    from ... import conductor

    return conductor.server_url().rstrip("/")


def register(definition: dict[str, Any], name: str, **fields: Any) -> str | None:
    """Register ``definition`` as ``name`` (version 1); None, or the engine's refusal."""
    definition = {**definition, "name": name, "version": 1, **fields}
    definition.setdefault("ownerEmail", "learner@fde.example.com")
    definition.setdefault("schemaVersion", 2)
    response = requests.put(f"{_server()}/metadata/workflow", json=[definition], timeout=10)
    return engine_message(response) if response.status_code >= 400 else None


def practice_name(exercise_id: str, definition: dict[str, Any]) -> str:
    body = json.dumps(definition, sort_keys=True)
    return f"practice_{exercise_id}_{hashlib.sha256(body.encode()).hexdigest()[:8]}"


def run_orders(name: str, orders: list[dict], timeout: float) -> list[dict]:
    """Start one workflow per order, wait for each (and its compensation) to end; per order
    ``{"run": workflow JSON with tasks, "compensation": its JSON or None}``, or
    ``{"refused": message}`` / ``{"timeout": status}``."""
    server = _server()
    started: list[dict[str, Any]] = []
    for order in orders:
        response = requests.post(
            f"{server}/workflow",
            timeout=10,
            json={"name": name, "version": 1, "input": {"order": order}, "correlationId": order["order_id"]},
        )
        started.append(
            {"refused": engine_message(response)}
            if response.status_code >= 400
            else {"id": response.text.strip().strip('"')}
        )
    deadline = time.monotonic() + timeout
    for entry in started:
        if "id" not in entry:
            continue
        run = _wait(server, entry.pop("id"), deadline)
        if run.get("status") not in TERMINAL:
            entry["timeout"] = run.get("status")
            continue
        entry["run"] = run
        undo = (run.get("output") or {}).get("conductor.failure_workflow")
        entry["compensation"] = _wait(server, undo, deadline) if undo else None
    return started


def _wait(server: str, workflow_id: str, deadline: float) -> dict:
    while True:
        found = requests.get(f"{server}/workflow/{workflow_id}", params={"includeTasks": "true"}, timeout=10).json()
        if found.get("status") in TERMINAL:
            return found
        if time.monotonic() > deadline:
            requests.delete(f"{server}/workflow/{workflow_id}", params={"reason": "check timed out"}, timeout=10)
            return found
        time.sleep(0.05)


def books(order_ids: list[str]) -> dict[str, dict]:
    """What the services' tables say about each order."""
    rows = db.read_frame(
        """
        SELECT o.order_id, o.status,
               EXISTS (SELECT 1 FROM oms.payments p WHERE p.order_id = o.order_id AND p.kind = 'charge') AS charged,
               coalesce((SELECT sum(amount) FILTER (WHERE kind = 'charge') - coalesce(sum(amount) FILTER (
                   WHERE kind = 'refund'), 0) FROM oms.payments p WHERE p.order_id = o.order_id), 0) AS kept,
               EXISTS (SELECT 1 FROM oms.stock_bookings b WHERE b.order_id = o.order_id AND b.status = 'BOOKED')
                   AS booked
        FROM oms.orders o WHERE o.order_id = ANY(:o)""",
        {"o": order_ids},
    )
    found = {
        row.order_id: {
            "status": row.status,
            "charged": bool(row.charged),
            "kept": round(float(row.kept), 2),
            "booked": bool(row.booked),
        }
        for row in rows.itertuples()
    }
    return {
        o: found.get(o, {"status": "never stored", "charged": False, "kept": 0.0, "booked": False}) for o in order_ids
    }


def forget(order_ids: list[str]) -> None:
    """Delete the check's test orders, their stock back on the shelves."""
    with db.get_engine().begin() as conn:
        conn.execute(
            sa.text("""
            UPDATE oms.products p SET stock = p.stock + b.quantity
            FROM (SELECT sku, sum(quantity) AS quantity FROM oms.stock_bookings
                  WHERE order_id = ANY(:o) AND status = 'BOOKED' GROUP BY sku) b
            WHERE p.sku = b.sku"""),
            {"o": order_ids},
        )
        conn.execute(sa.text("DELETE FROM oms.fired_faults WHERE order_id = ANY(:o)"), {"o": order_ids})
        conn.execute(sa.text("DELETE FROM oms.orders WHERE order_id = ANY(:o)"), {"o": order_ids})


def tasks_of(run: dict, task_type: str) -> list[dict]:
    return [t for t in run.get("tasks") or [] if t.get("taskType") == task_type]


@dataclasses.dataclass
class OrderWorkflow(Exercise):
    """A workflow the learner writes with conductor-python, checked by the orders it runs.

    ``expect`` is one tuple of short sentences per test order (``orders``: label and items);
    a subclass's ``outcome(order, entry, books)`` says the same things about a real run.
    """

    name: str = ""  # the variable the answer cell assigns
    orders: tuple = ()  # (label, items) per test order
    expect: tuple = ()  # the behaviour a right answer has
    timeout: float = 30

    def __post_init__(self) -> None:
        super().__post_init__()
        self.kind = "workflow"
        if not self.name or not self.orders or len(self.expect) != len(self.orders):
            raise ExerciseError(
                f"exercise {self.id}: give the answer variable, the orders and one expected outcome per order"
            )

    def read(self, namespace):
        return answer_of(namespace.get(self.name, MISSING))

    def from_text(self, text, namespace):
        return answer_of(run_cell(text, namespace).get(self.name, MISSING))

    def expected(self):
        return self.expect

    def workflow_to_run(self, definition: dict) -> tuple[str | None, str]:
        """Register what the orders run; (refusal or None, the workflow's name)."""
        name = practice_name(self.id, definition)
        return register(definition, name), name

    def behaviour(self, answer):
        definition = definition_of(answer)
        if definition is None:
            return ("not a workflow", type(answer).__name__)
        refused, name = self.workflow_to_run(definition)
        if refused:
            return ("refused", refused)
        orders = [test_order(items, self.id.upper()[:8]) for _, items in self.orders]
        ids = [o["order_id"] for o in orders]
        try:
            runs = run_orders(name, orders, self.timeout)
            found = books(ids)
            return tuple(
                (run_failure(entry),) if run_failure(entry) else self.outcome(entry, found[order_id])
                for entry, order_id in zip(runs, ids, strict=True)
            )
        finally:
            forget(ids)

    def outcome(self, entry: dict, books: dict) -> tuple:
        raise NotImplementedError

    def difference(self, got, expected):
        if got and got[0] == "not a workflow":
            return f"{self.name} holds a {got[1]}, not a workflow (a ConductorWorkflow or its JSON)."
        if got and got[0] == "refused":
            return f"The engine refused the definition: {got[1]}"
        for (label, _), mine, theirs in zip(self.orders, got, expected, strict=False):
            if mine and mine[0].startswith("timeout"):
                return (
                    f"{label}: the run had not ended after {self.timeout:.0f} s ({mine[0]}): is a task "
                    "waiting for a worker that is not running?"
                )
            if mine and mine[0].startswith("refused"):
                return f"{label}: the engine refused to start it: {mine[0]}"
            for said, wanted in zip(mine, theirs, strict=False):
                if said != wanted:
                    return f"{label}: {said}; it should be: {wanted}."
        return None


def run_failure(entry: dict) -> str | None:
    """A run the engine refused or that did not end, in words (None when it ended)."""
    if "refused" in entry:
        return f"refused: {entry['refused']}"
    if "timeout" in entry:
        return f"timeout: still {entry['timeout']}"
    return None
