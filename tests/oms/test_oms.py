"""The order saga end to end: real conductor-python workers (TaskHandler processes), the
local engine as a background process, PostgreSQL for both."""

import copy
import time

import pytest
import sqlalchemy as sa

from fdelib import conductor, oms
from fdelib.conductor.workers import Workers
from fdelib.oms import workflow
from fdelib.oms.orders import TERMINAL

STOCK = 100


@pytest.fixture(scope="module")
def shop(engine):
    oms.seed(engine, stock=STOCK)
    clients = conductor.clients()
    workflow.register(conductor.executor(), clients.get_metadata_client())
    with Workers(["fdelib.oms.workers"]):
        # the first order waits for ten worker processes to start: on a busy machine that is
        # minutes, which no test below should count against its own timeout
        oms.run_orders(clients, oms.make_orders(1, prefix="WARMUP"), timeout=900, progress=False)
        yield clients


def outcome(order_id):
    frame = oms.outcomes()
    return frame.set_index("order_id").loc[order_id]


def test_happy_path_completes_every_order(shop):
    result = oms.run_orders(shop, oms.make_orders(5, prefix="HAPPY"), timeout=600, progress=False)
    assert list(result["workflow"]) == ["COMPLETED"] * 5
    assert list(result["compensation"]) == [""] * 5
    books = oms.outcomes().query("order_id.str.startswith('HAPPY')")
    assert (books["status"] == "COMPLETED").all()
    assert (books["charged"] == books["amount"]).all() and (books["refunded"] == 0).all()
    assert (books["delivery"] == "SCHEDULED").all() and books["tracking"].str.startswith("TRK").all()
    assert (books["notified"] == "completed,received").all()
    assert (oms.audit(initial_stock=STOCK) == 0).all()


@pytest.mark.parametrize("fault, charged", [("payment_declined", 0.0), ("stock_out", None), ("delivery_failure", None)])
def test_each_fault_ends_fully_compensated(shop, fault, charged):
    order = oms.make_orders(1, fault=fault, faulty=1, prefix=fault.upper())[0]
    result = oms.run_orders(shop, [order], timeout=600, progress=False).iloc[0]
    assert result["workflow"] == "FAILED" and result["compensation"] == "COMPLETED"
    books = outcome(order["order_id"])
    assert books["status"] == "CANCELLED"
    assert books["refunded"] == books["charged"]  # whatever was charged came back
    if charged is not None:
        assert books["charged"] == charged
    assert set(books["stock"].split(",")) <= {"", "RELEASED"}  # nothing left booked
    assert "cancelled" in books["notified"].split(",")
    assert (oms.audit(initial_stock=STOCK) == 0).all()


def test_a_worker_killed_after_charging_never_charges_twice(shop, engine):
    order = oms.make_orders(1, fault="payment_worker_crash", faulty=1, prefix="CRASH")[0]
    result = oms.run_orders(shop, [order], timeout=600, progress=False).iloc[0]
    assert result["workflow"] == "COMPLETED"
    history = shop.get_workflow_client().get_workflow(result["workflow_id"], include_tasks=True)
    payment = [t for t in history.tasks if t.reference_task_name == "payment"]
    statuses = [t.status for t in payment]  # the dead worker's attempt, then the retry (on a machine so
    assert statuses[0] == "TIMED_OUT" and statuses[-1] == "COMPLETED"  # busy that a retry, too, can time out)
    assert set(statuses[1:-1]) <= {"TIMED_OUT"}
    assert payment[-1].output_data["charged_on_attempt"] == 0  # the retry found the first charge
    charges = oms.outcomes().set_index("order_id").loc[order["order_id"]]
    assert charges["charged"] == order["amount"]
    assert (oms.audit(initial_stock=STOCK) == 0).all()


def test_a_worker_killed_before_charging_charges_once_on_the_retry(shop, engine):
    order = oms.make_orders(1, fault="payment_crash_before_charge", faulty=1, prefix="EARLYCRASH")[0]
    result = oms.run_orders(shop, [order], timeout=600, progress=False).iloc[0]
    assert result["workflow"] == "COMPLETED" and result["compensation"] == ""
    with engine.connect() as conn:
        fired = (
            conn.execute(sa.text("SELECT fault FROM oms.fired_faults WHERE order_id = :o"), {"o": order["order_id"]})
            .scalars()
            .all()
        )
        charges = conn.execute(
            sa.text("SELECT amount, attempt FROM oms.payments WHERE order_id = :o AND kind = 'charge'"),
            {"o": order["order_id"]},
        ).all()
    assert fired == ["payment_crash_before_charge"]  # the worker did die
    history = shop.get_workflow_client().get_workflow(result["workflow_id"], include_tasks=True)
    payment = [t for t in history.tasks if t.reference_task_name == "payment"]
    assert payment[0].status == "TIMED_OUT" and payment[-1].status == "COMPLETED"
    assert len(charges) == 1 and float(charges[0].amount) == order["amount"]  # exactly one charge
    assert charges[0].attempt >= 1  # made by a retry: the dead attempt charged nothing
    assert payment[-1].output_data["charged_on_attempt"] == charges[0].attempt
    assert outcome(order["order_id"])["status"] == "COMPLETED"
    assert (oms.audit(initial_stock=STOCK) == 0).all()


def wait_until_ended(clients, workflow_id, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = clients.get_workflow_client().get_workflow(workflow_id, include_tasks=False)
        if run.status in TERMINAL:
            return run
        time.sleep(0.05)
    raise AssertionError(f"workflow {workflow_id} still {run.status}")


def compensate(clients, failed_id):
    """Start the compensation as Conductor does when the order workflow fails."""
    from conductor.client.http.api_client import ApiClient
    from conductor.client.http.models import StartWorkflowRequest

    failed = ApiClient().sanitize_for_serialization(
        clients.get_workflow_client().get_workflow(failed_id, include_tasks=True)
    )
    request = StartWorkflowRequest(
        name=workflow.COMPENSATION_WORKFLOW,
        version=1,
        input={
            **failed["input"],
            "workflowId": failed_id,
            "failureStatus": "FAILED",
            "failedWorkflow": failed,
            "reason": "Task 'notify_completed' failed with status FAILED and reason: 'mail server down'",
        },
    )
    return wait_until_ended(clients, clients.get_workflow_client().start_workflow(request))


def test_a_compensation_leaves_a_completed_order_alone(shop, engine):
    """The order workflow failed after it closed the order (its last notification failed
    every retry, or it timed out): no cancel, no refund, no "cancelled" message."""
    order = oms.make_orders(1, prefix="LATEFAIL")[0]
    result = oms.run_orders(shop, [order], timeout=600, progress=False).iloc[0]
    undo = compensate(shop, result["workflow_id"])
    books = outcome(order["order_id"])
    assert books["status"] == "COMPLETED" and books["refunded"] == 0 and books["delivery"] == "SCHEDULED"
    assert books["notified"] == "completed,received"
    assert undo.status == "COMPLETED" and undo.output["order"] == "COMPLETED"  # nothing to undo
    assert (oms.audit(initial_stock=STOCK) == 0).all()

    with engine.begin() as conn:  # what a bug could do (the notification service now refuses it)
        conn.execute(
            sa.text("INSERT INTO oms.notifications VALUES (:o, 'cancelled', 'a bug')"), {"o": order["order_id"]}
        )
    try:
        assert oms.audit(initial_stock=STOCK)["completed_told_cancelled"] == 1
    finally:
        with engine.begin() as conn:
            conn.execute(
                sa.text("DELETE FROM oms.notifications WHERE order_id = :o AND stage = 'cancelled'"),
                {"o": order["order_id"]},
            )


def test_an_order_refused_at_acknowledgement_has_nothing_to_compensate(shop):
    order = {**oms.make_orders(1, prefix="REFUSED")[0], "customer_id": "C9999"}
    result = oms.run_orders(shop, [order], timeout=600, progress=False).iloc[0]
    assert result["workflow"] == "FAILED" and "unknown customer" in result["reason"]
    assert result["compensation"] == "COMPLETED"
    assert order["order_id"] not in set(oms.outcomes()["order_id"])
    assert (oms.audit(initial_stock=STOCK) == 0).all()


# --- issue 12: client-stated prices and order ids as idempotency keys, through the engine ---

DESK = {
    "customer_id": "C0001",
    "items": [{"sku": "SKU-DESK", "quantity": 2}],
    "amount": 48.0,
    "address": "1 Market Street, Springfield",
    "received_at": "2026-01-02T10:00:00+00:00",
}


def one(clients, order, **options):
    """Start the order workflow directly, as any client of the engine can, and wait for it."""
    return oms.orders.wait_for(
        clients, oms.orders.start_orders(clients, [order]), [order], progress=False, timeout=600, **options
    ).iloc[0]


def compensation_of(clients, workflow_id):
    run = clients.get_workflow_client().get_workflow(workflow_id, include_tasks=False)
    return clients.get_workflow_client().get_workflow(run.output["conductor.failure_workflow"], include_tasks=False)


def test_a_client_stated_price_is_refused_and_nothing_is_charged(shop, engine):
    order = {**DESK, "order_id": "PRICE-1", "amount": 0.01}  # 2 x SKU-DESK is 48.00
    result = one(shop, order)
    assert result["workflow"] == "FAILED" and result["compensation"] == "COMPLETED"
    assert "the stated total 0.01 differs from the catalogue total 48.00" in result["reason"]
    assert compensation_of(shop, result["workflow_id"]).output["order"] == "NEVER_ACKNOWLEDGED"
    assert "PRICE-1" not in set(oms.outcomes()["order_id"])  # no order, no charge, no stock held
    assert one(shop, {**order, "amount": 48.0})["workflow"] == "COMPLETED"  # the right total is accepted
    assert outcome("PRICE-1")["charged"] == 48.0
    assert (oms.audit(initial_stock=STOCK, clients=shop) == 0).all()


def test_hostile_items_are_refused_through_the_engine(shop):
    for n, items in enumerate(
        [
            [{"sku": "SKU-DESK", "quantity": 10**12}],
            [{"sku": "SKU-DESK", "quantity": -1}],
            [{"sku": "SKU-DESK", "quantity": 1}, {"sku": "SKU-DESK", "quantity": 1}],
        ]
    ):
        result = one(shop, {**DESK, "order_id": f"HOSTILE-{n}", "items": items})
        assert result["workflow"] == "FAILED" and result["compensation"] == "COMPLETED"
        assert "FAILED_WITH_TERMINAL_ERROR" in result["reason"]  # refused, not retried
    assert not oms.outcomes()["order_id"].str.startswith("HOSTILE").any()
    assert (oms.audit(initial_stock=STOCK, clients=shop) == 0).all()


def test_a_cancelled_order_resubmitted_without_fault_fails_as_the_original_did(shop):
    order = {**DESK, "order_id": "AGAIN-CANCELLED", "fault": "stock_out"}
    first = one(shop, order)
    assert first["workflow"] == "FAILED" and outcome("AGAIN-CANCELLED")["status"] == "CANCELLED"
    replay = one(shop, {**order, "fault": None})
    assert replay["workflow"] == "FAILED" and replay["compensation"] == "COMPLETED"
    assert "order AGAIN-CANCELLED was already cancelled: Task 'stock' failed" in replay["reason"]
    assert compensation_of(shop, replay["workflow_id"]).output["order"] == "NOT_OWNER"  # nothing undone twice
    books = outcome("AGAIN-CANCELLED")
    assert books["status"] == "CANCELLED" and books["notified"] == "cancelled,received"  # never "on its way"
    assert books["charged"] == books["refunded"] and books["delivery"] == ""
    assert (oms.audit(initial_stock=STOCK, clients=shop) == 0).all()


def test_a_completed_order_replayed_returns_the_original_outcome(shop, engine):
    order = {**DESK, "order_id": "AGAIN-COMPLETED"}
    first = one(shop, order)
    replay = one(shop, copy.deepcopy(order))
    assert first["workflow"] == replay["workflow"] == "COMPLETED"
    assert replay["output"] == {**first["output"], "replay_of": first["workflow_id"]}
    assert replay["output"]["tracking"].startswith("TRK")
    history = shop.get_workflow_client().get_workflow(replay["workflow_id"], include_tasks=True)
    assert [t.reference_task_name for t in history.tasks] == ["acknowledge", "replay_check", "replay_completed"]
    with engine.connect() as conn:
        charges = conn.execute(
            sa.text("SELECT count(*) FROM oms.payments WHERE order_id = :o"), {"o": "AGAIN-COMPLETED"}
        ).scalar()
    assert charges == 1 and outcome("AGAIN-COMPLETED")["notified"] == "completed,received"
    assert (oms.audit(initial_stock=STOCK, clients=shop) == 0).all()


def test_a_completed_order_resubmitted_with_other_items_is_refused_naming_them(shop):
    order = {**DESK, "order_id": "AGAIN-OTHER"}
    assert one(shop, order)["workflow"] == "COMPLETED"
    other = one(shop, {**order, "items": [{"sku": "SKU-MUG", "quantity": 4}]})
    assert other["workflow"] == "FAILED"
    assert (
        "order AGAIN-OTHER was already placed with other content: items differ (was 2 x SKU-DESK, "
        "now 4 x SKU-MUG)" in other["reason"]
    )
    assert compensation_of(shop, other["workflow_id"]).output["order"] == "NOT_OWNER"  # left alone
    books = outcome("AGAIN-OTHER")
    assert books["status"] == "COMPLETED" and books["charged"] == 48.0 and books["refunded"] == 0
    assert (oms.audit(initial_stock=STOCK, clients=shop) == 0).all()


def test_a_replay_while_the_original_runs_waits_and_ends_as_it_did(shop, engine):
    order = {**DESK, "order_id": "AGAIN-INFLIGHT", "fault": "delivery_failure"}  # retries for a few seconds
    first = oms.orders.start_orders(shop, [order])
    deadline = time.monotonic() + 600
    while "AGAIN-INFLIGHT" not in set(oms.outcomes()["order_id"]):  # acknowledged, still running
        assert time.monotonic() < deadline
        time.sleep(0.05)
    second = oms.orders.start_orders(shop, [order])
    both = oms.orders.wait_for(shop, first + second, [order, order], timeout=600, progress=False)
    assert list(both["workflow"]) == ["FAILED", "FAILED"]
    assert "was already cancelled: Task 'delivery' failed" in both["reason"][1]
    history = shop.get_workflow_client().get_workflow(second[0], include_tasks=True)
    acknowledged = [t for t in history.tasks if t.reference_task_name == "acknowledge"]
    assert len(acknowledged) == 1 and acknowledged[0].poll_count >= 2  # it waited: polled again and again
    assert acknowledged[0].output_data["outcome"] == "REPLAY_CANCELLED"
    books = outcome("AGAIN-INFLIGHT")
    assert books["charged"] == books["refunded"] == 48.0 and books["notified"] == "cancelled,received"
    assert (oms.audit(initial_stock=STOCK, clients=shop) == 0).all()


def test_the_audit_catches_a_completed_workflow_of_a_cancelled_order(shop, engine):
    order = {**DESK, "order_id": "AUDIT-BUG"}
    assert one(shop, order)["workflow"] == "COMPLETED"
    with engine.begin() as conn:  # the state the old replay left: workflow COMPLETED, order CANCELLED
        conn.execute(sa.text("UPDATE oms.orders SET status = 'CANCELLED' WHERE order_id = 'AUDIT-BUG'"))
        conn.execute(sa.text("INSERT INTO oms.notifications VALUES ('AUDIT-BUG', 'cancelled', 'x')"))
    try:
        found = oms.audit(initial_stock=STOCK, clients=shop)
        assert found["completed_workflow_open_order"] == 1 and found["not_completed_told_completed"] == 1
        assert oms.orders.completed_workflows_of_open_orders(shop)["order_id"].tolist() == ["AUDIT-BUG"]
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE oms.orders SET status = 'COMPLETED' WHERE order_id = 'AUDIT-BUG'"))
            conn.execute(sa.text("DELETE FROM oms.notifications WHERE order_id = 'AUDIT-BUG' AND stage = 'cancelled'"))
    assert (oms.audit(initial_stock=STOCK, clients=shop) == 0).all()


def test_200_concurrent_orders_never_oversell(shop, engine):
    oms.seed(engine, stock=40)  # fewer units than 200 orders want: some must be refused
    orders = oms.make_orders(200, seed=9, prefix="RUSH")
    # 20 clients send their order twice at once: whichever request comes second waits, then
    # ends as the first did
    sent = [order for pair in zip(orders[:20], orders[:20], strict=False) for order in pair] + orders[20:]
    result = oms.run_orders(shop, sent, timeout=900, progress=False)
    assert len(result) == 220
    assert set(result["workflow"]) <= {"COMPLETED", "FAILED"}
    failed = result[result["workflow"] == "FAILED"]
    assert len(failed) > 0 and (failed["compensation"] == "COMPLETED").all()
    assert failed["reason"].str.contains("out of stock").all()
    twice = result.iloc[:40]
    assert (twice["workflow"].values[0::2] == twice["workflow"].values[1::2]).all()
    audit = oms.audit(initial_stock=40, clients=shop)
    assert (audit == 0).all(), audit.to_dict()
    books = oms.outcomes()
    assert len(books) == 200 and set(books["status"]) == {"COMPLETED", "CANCELLED"}
    assert (books["charged"] - books["refunded"] == books["amount"] * (books["status"] == "COMPLETED")).all()
