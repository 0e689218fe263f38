"""Set up the shop, make orders, run them through the workflow, and check the books.

The functions a notebook or a test calls one by one: :func:`setup` and :func:`seed` (tables,
customers, products with stock), :func:`make_orders` (seeded client orders, some with an
injected fault), :func:`run_orders` (start them all, wait for every one to end),
:func:`outcomes` and :func:`audit` (what happened, and proof the books balance).
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from tqdm.auto import tqdm

from .. import db, params
from ..errors import FdeError
from .services import FAULTS
from .workflow import ORDER_WORKFLOW

SCHEMA_SQL = Path(__file__).with_name("schema.sql")
PRODUCTS = [
    ("SKU-BOND-ETF", "Bond ETF starter kit", "49.90"),
    ("SKU-CALC", "Financial calculator", "29.50"),
    ("SKU-BOOK", "Financial Data Engineering (book)", "59.00"),
    ("SKU-DESK", "Trading desk lamp", "24.00"),
    ("SKU-HDMI", "Ticker display cable", "9.99"),
    ("SKU-MUG", "Bull & bear mug", "12.00"),
]
TERMINAL = ("COMPLETED", "FAILED", "TIMED_OUT", "TERMINATED")

#: the parameters of the 04_oms notebooks, checked at the top of each (``fdelib.params``)
_SHOP = {
    "as_of": params.Date(),
    "seed": params.Integer(0),
    "stock": params.Integer(
        0, 1_000_000, why="units of each product; below what the orders want, some run out of stock and are compensated"
    ),
}
ORDER_WORKFLOW_PARAMETERS = {
    **_SHOP,
    "orders": params.Integer(2, 100, why="the first order runs alone, the others as a batch; each is a workflow run"),
}
SAGA_PARAMETERS = {
    "as_of": params.Date(),
    "seed": params.Integer(0),
    "fault": params.Choice(tuple(FAULTS)),
    "response_timeout": params.Integer(1, 60, why="seconds a crashed worker's task waits before Conductor retries it"),
}
MICROSERVICES_PARAMETERS = {
    **_SHOP,
    "orders": params.Integer(2, 100, why="half are placed before the upgrade, half after"),
}


def setup(engine: sa.Engine | None = None) -> None:
    db.run_sql_file(SCHEMA_SQL, engine or db.get_engine())


def seed(engine: sa.Engine | None = None, *, customers: int = 20, stock: int = 100, seed: int = 42) -> None:
    """Replace the shop's data: customers, products with ``stock`` units each, no orders."""
    engine = engine or db.get_engine()
    setup(engine)
    rng = random.Random(seed)
    first = ["Ada", "Ben", "Chen", "Dana", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun"]
    last = ["Abe", "Berg", "Cruz", "Diaz", "Eng", "Ford", "Gray", "Hale", "Ito", "Jain"]
    rows = [
        {"c": f"C{i:04d}", "n": f"{rng.choice(first)} {rng.choice(last)}", "e": f"customer{i:04d}@shop.example.com"}
        for i in range(1, customers + 1)
    ]
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "TRUNCATE oms.orders, oms.order_items, oms.order_requests, oms.payments, "
                "oms.stock_bookings, oms.deliveries, oms.notifications, oms.fired_faults, "
                "oms.events, oms.products, oms.customers RESTART IDENTITY CASCADE"
            )
        )
        conn.execute(sa.text("INSERT INTO oms.customers VALUES (:c, :n, :e)"), rows)
        conn.execute(
            sa.text("INSERT INTO oms.products VALUES (:s, :n, :p, :q)"),
            [{"s": s, "n": n, "p": p, "q": stock} for s, n, p in PRODUCTS],
        )


def stop_running(clients) -> int:
    """Terminate order and compensation workflows left running (e.g. by an interrupted
    lesson), so they cannot act on the freshly seeded shop. Returns how many."""
    from .workflow import COMPENSATION_WORKFLOW

    workflow_client = clients.get_workflow_client()
    api = workflow_client.workflowResourceApi
    stopped = 0
    for name in (ORDER_WORKFLOW, COMPENSATION_WORKFLOW):
        try:
            running = api.get_running_workflow(name) or []
        except Exception:  # never registered yet: nothing runs
            continue
        for workflow_id in running:
            workflow_client.terminate_workflow(workflow_id, reason="the shop was re-seeded")
            stopped += 1
    return stopped


def make_orders(
    count: int,
    *,
    seed: int = 42,
    as_of: str = "2026-01-02",
    fault: str = "none",
    faulty: int = 0,
    customers: int = 20,
    prefix: str = "ORD",
) -> list[dict[str, Any]]:
    """``count`` seeded client orders; the first ``faulty`` of them carry ``fault``."""
    if fault not in FAULTS:
        raise FdeError(f"unknown fault {fault!r}; choose one of {', '.join(FAULTS)}")
    rng = random.Random(seed)
    prices = {sku: float(price) for sku, _, price in PRODUCTS}
    orders = []
    for i in range(count):
        skus = rng.sample(sorted(prices), rng.randint(1, 3))
        items: list[dict[str, Any]] = [{"sku": sku, "quantity": rng.randint(1, 2)} for sku in sorted(skus)]
        orders.append(
            {
                "order_id": f"{prefix}-{i + 1:05d}",
                "customer_id": f"C{rng.randint(1, customers):04d}",
                "items": items,
                "amount": round(sum(prices[it["sku"]] * it["quantity"] for it in items), 2),
                "address": f"{rng.randint(1, 250)} Market Street, Springfield",
                "received_at": f"{as_of}T10:00:00+00:00",
                "fault": fault if i < faulty else None,
            }
        )
    return orders


def start_orders(clients, orders: list[Any]) -> list[str]:
    """Start one order workflow per order, as any client can (the services check everything);
    the workflow ids, in order."""
    from conductor.client.http.models import StartWorkflowRequest

    workflow_client = clients.get_workflow_client()
    ids = []
    for order in orders:
        key = order.get("order_id") if isinstance(order, dict) else None
        request = StartWorkflowRequest(
            name=ORDER_WORKFLOW, version=1, input={"order": order}, correlation_id=key if isinstance(key, str) else None
        )
        ids.append(workflow_client.start_workflow(request))
    return ids


def run_orders(clients, orders: list[Any], *, timeout: float = 600, progress: bool = True) -> pd.DataFrame:
    """Start one workflow per order, wait until each has ended (and its compensation).

    Returns one row per order (an order sent twice has two): its workflow's status and
    output, and the compensation's status, if any.
    """
    return wait_for(clients, start_orders(clients, orders), orders, timeout=timeout, progress=progress)


def wait_for(
    clients, workflow_ids: list[str], orders: list[Any], *, timeout: float = 600, progress: bool = True
) -> pd.DataFrame:
    """Wait until each order workflow (and its compensation) has ended; one row per workflow."""
    workflow_client = clients.get_workflow_client()
    results: dict[int, dict] = {}
    bar = tqdm(total=len(workflow_ids), desc="orders", disable=not progress)
    deadline = time.monotonic() + timeout
    while len(results) < len(workflow_ids):
        for position, workflow_id in enumerate(workflow_ids):
            if position in results:
                continue
            workflow = workflow_client.get_workflow(workflow_id, include_tasks=False)
            if workflow.status not in TERMINAL:
                continue
            compensation = (workflow.output or {}).get("conductor.failure_workflow")
            if compensation:
                undo = workflow_client.get_workflow(compensation, include_tasks=False)
                if undo.status not in TERMINAL:
                    continue
                compensation = undo.status
            order = orders[position]
            output = {k: v for k, v in (workflow.output or {}).items() if k != "conductor.failure_workflow"}
            results[position] = {
                "order_id": order.get("order_id") if isinstance(order, dict) else None,
                "workflow_id": workflow_id,
                "workflow": workflow.status,
                "compensation": compensation or "",
                "reason": workflow.reason_for_incompletion or "",
                "output": output,
            }
            bar.update(1)
        if len(results) < len(workflow_ids):
            if time.monotonic() > deadline:
                bar.close()
                stuck = [workflow_ids[i] for i in range(len(workflow_ids)) if i not in results]
                raise FdeError(
                    f"{len(stuck)} order workflow(s) still running after {timeout:.0f} s, e.g. "
                    f"{', '.join(stuck[:3])}: are the workers running?"
                )
            time.sleep(0.05)
    bar.close()
    return pd.DataFrame([results[i] for i in range(len(workflow_ids))])


def outcomes(engine: sa.Engine | None = None) -> pd.DataFrame:
    """Each order as the services' tables tell it."""
    return db.read_frame(
        """
        SELECT o.order_id, coalesce(o.fault, '') AS fault, o.status, o.amount,
               coalesce(sum(p.amount) FILTER (WHERE p.kind = 'charge'), 0) AS charged,
               coalesce(sum(p.amount) FILTER (WHERE p.kind = 'refund'), 0) AS refunded,
               coalesce((SELECT string_agg(s.status, ',' ORDER BY s.sku) FROM oms.stock_bookings s
                 WHERE s.order_id = o.order_id), '') AS stock,
               coalesce(d.status, '') AS delivery, coalesce(d.tracking, '') AS tracking,
               coalesce((SELECT string_agg(n.stage, ',' ORDER BY n.stage) FROM oms.notifications n
                 WHERE n.order_id = o.order_id), '') AS notified
        FROM oms.orders o
        LEFT JOIN oms.payments p USING (order_id)
        LEFT JOIN oms.deliveries d USING (order_id)
        GROUP BY o.order_id, d.status, d.tracking ORDER BY o.order_id""",
        engine=engine,
    )


def settlement(engine: sa.Engine | None = None) -> pd.DataFrame:
    """Each order's end state in the terms a saga promises — the same whatever the timing.

    (Whether a parallel payment had charged before a stock-out stopped the workflow is a
    race; what the customer keeps paying for a cancelled order is always 0.)
    """
    frame = outcomes(engine)
    frame["money kept"] = (frame["charged"] - frame["refunded"]).round(2)
    frame["stock held"] = frame["stock"].str.contains("BOOKED").map({True: "booked", False: "none"})
    return frame[["order_id", "fault", "status", "amount", "money kept", "stock held", "delivery", "notified"]]


def audit(engine: sa.Engine | None = None, *, initial_stock: int = 100, clients=None) -> pd.Series:
    """The saga's promises, checked against the services' tables (all zero = kept).

    With ``clients`` (conductor-python's), also how every workflow that named an order ended:
    none may be COMPLETED while its order is not (a replay of a cancelled order must fail as
    the original did).
    """
    checks = db.read_frame(
        """
        SELECT
          (SELECT count(*) FROM oms.products WHERE stock < 0) AS negative_stock,
          (SELECT count(*) FROM oms.products p WHERE p.stock + coalesce((SELECT sum(quantity)
              FROM oms.stock_bookings b WHERE b.sku = p.sku AND b.status = 'BOOKED'), 0) <> :initial)
              AS stock_not_accounted,
          (SELECT count(*) FROM oms.orders WHERE status = 'ACKNOWLEDGED') AS orders_in_limbo,
          (SELECT count(*) FROM oms.orders o WHERE o.amount = 'NaN' OR o.amount IS DISTINCT FROM (
              SELECT sum(i.unit_price * i.quantity) FROM oms.order_items i WHERE i.order_id = o.order_id))
              AS not_catalogue_priced,
          (SELECT count(*) FROM oms.orders o WHERE EXISTS (SELECT 1 FROM oms.payments p WHERE p.order_id = o.order_id
              AND ((p.kind = 'charge' AND p.amount IS DISTINCT FROM o.amount) OR (p.kind = 'refund' AND
                   p.amount IS DISTINCT FROM (SELECT c.amount FROM oms.payments c WHERE c.order_id = o.order_id
                                              AND c.kind = 'charge')))))
              AS charged_other_than_the_price,
          (SELECT count(*) FROM oms.orders o WHERE status = 'CANCELLED' AND (
              EXISTS (SELECT 1 FROM oms.stock_bookings b WHERE b.order_id = o.order_id AND b.status = 'BOOKED')
              OR EXISTS (SELECT 1 FROM oms.payments c WHERE c.order_id = o.order_id AND c.kind = 'charge'
                         AND NOT EXISTS (SELECT 1 FROM oms.payments r WHERE r.order_id = o.order_id
                                         AND r.kind = 'refund'))
              OR EXISTS (SELECT 1 FROM oms.deliveries d WHERE d.order_id = o.order_id AND d.status = 'SCHEDULED')
              OR NOT EXISTS (SELECT 1 FROM oms.notifications n WHERE n.order_id = o.order_id
                             AND n.stage = 'cancelled'))) AS cancelled_not_compensated,
          (SELECT count(*) FROM oms.orders o WHERE status = 'COMPLETED' AND NOT (
              EXISTS (SELECT 1 FROM oms.payments c WHERE c.order_id = o.order_id AND c.kind = 'charge')
              AND EXISTS (SELECT 1 FROM oms.deliveries d WHERE d.order_id = o.order_id AND d.status = 'SCHEDULED')))
              AS completed_incomplete,
          (SELECT count(*) FROM oms.orders o WHERE status = 'COMPLETED' AND EXISTS (
              SELECT 1 FROM oms.notifications n WHERE n.order_id = o.order_id AND n.stage = 'cancelled'))
              AS completed_told_cancelled,
          (SELECT count(*) FROM oms.orders o WHERE status <> 'COMPLETED' AND EXISTS (
              SELECT 1 FROM oms.notifications n WHERE n.order_id = o.order_id AND n.stage = 'completed'))
              AS not_completed_told_completed,
          (SELECT count(*) FROM (SELECT order_id FROM oms.payments WHERE kind = 'charge'
                                 GROUP BY order_id HAVING count(*) > 1) x) AS charged_twice
        """,
        {"initial": initial_stock},
        engine=engine,
    )
    found = checks.iloc[0].astype(int).rename("violations")
    if clients is not None:
        found["completed_workflow_open_order"] = len(completed_workflows_of_open_orders(clients, engine))
    return found


def completed_workflows_of_open_orders(clients, engine: sa.Engine | None = None) -> pd.DataFrame:
    """Workflows that placed or replayed an order and ended COMPLETED while the order is not."""
    requests = db.read_frame(
        """
        SELECT r.order_id, r.workflow_id, r.outcome, o.status AS order_status FROM oms.order_requests r
        JOIN oms.orders o USING (order_id) WHERE o.status <> 'COMPLETED' ORDER BY r.order_id, r.workflow_id""",
        engine=engine,
    )
    workflow_client = clients.get_workflow_client()
    requests["workflow"] = [
        workflow_client.get_workflow(w, include_tasks=False).status for w in requests["workflow_id"]
    ]
    return requests[requests["workflow"] == "COMPLETED"].reset_index(drop=True)


def try_fault(clients, fault: str, *, seed: int = 42, as_of: str = "2026-01-02", label: str = "TRY") -> pd.DataFrame:
    """Place one order with ``fault`` injected; how the workflow, its compensation and the
    services' books ended. What the fault explorer widget shows."""
    tag = f"{label}-{fault.upper().replace('_', '')[:10]}"
    already = db.read_scalar("SELECT count(*) FROM oms.orders WHERE order_id LIKE :p", {"p": f"{tag}-%"})
    order = make_orders(1, seed=seed, as_of=as_of, fault=fault, faulty=1, prefix=f"{tag}-{int(already) + 1:02d}")[0]
    result = run_orders(clients, [order], progress=False).iloc[0]
    books = outcomes().set_index("order_id").loc[order["order_id"]]
    return pd.DataFrame(
        {
            "value": {
                "fault": fault,
                "what it does": FAULTS[fault],
                "order": order["order_id"],
                "workflow": result["workflow"],
                "compensation workflow": result["compensation"] or "(none)",
                "order status": books["status"],
                "money kept (charged - refunded)": round(books["charged"] - books["refunded"], 2),
                "stock bookings": books["stock"] or "(none)",
                "delivery": books["delivery"] or "(none)",
                "customer told": books["notified"],
            }
        }
    )


def resubmissions(clients, order: dict[str, Any], *, timeout: float = 600) -> pd.DataFrame:
    """One order id sent four ways, one after another, as any client of the engine can: with a
    total the client made up, honestly, the same again, and with other items. How each
    workflow ended, its answer, and what the shop had charged for the order by then."""
    other = {**order, "items": [{"sku": "SKU-MUG", "quantity": 1}], "amount": 12.0}
    rows = []
    for request, sent in [
        ("stated total 0.01", {**order, "amount": 0.01}),
        ("the order", order),
        ("the same order again", order),
        ("the same id, other items", other),
    ]:
        result = run_orders(clients, [sent], timeout=timeout, progress=False).iloc[0]
        output = result["output"]
        answer = (
            f"tracking {output.get('tracking')}" + (" (the first workflow's answer)" if output.get("replay_of") else "")
            if result["workflow"] == "COMPLETED"
            else result["reason"].split("reason: ", 1)[-1].strip("'")
        )
        charged = db.read_scalar(
            "SELECT coalesce(sum(amount), 0) FROM oms.payments WHERE order_id = :o AND kind = 'charge'",
            {"o": order["order_id"]},
        )
        rows.append(
            {"request": request, "workflow": result["workflow"], "answer": answer, "charged so far": float(charged)}
        )
    return pd.DataFrame(rows).set_index("request")


def fault_explorer(clients, fault: str = "none", **options):
    """A dropdown of faults and a button that places an order with the chosen one (with
    workers of its own, so it works after the notebook's workers are stopped)."""
    import ipywidgets as widgets
    from IPython.display import display

    choice = widgets.Dropdown(options=list(FAULTS), value=fault, description="fault")
    button = widgets.Button(description="Place an order", button_style="primary")
    out = widgets.Output()

    def place(_):
        from ..conductor.workers import Workers

        with out:
            out.clear_output()
            # its own workers for the order: the notebook's may have been stopped by then
            with Workers(["fdelib.oms.workers"]):
                display(try_fault(clients, choice.value, **options))

    button.on_click(place)
    return widgets.VBox([widgets.HBox([choice, button]), out])
