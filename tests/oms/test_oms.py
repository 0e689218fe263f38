"""The order saga end to end: real conductor-python workers (TaskHandler processes), the
local engine as a background process, PostgreSQL for both."""

import time

import pytest
import sqlalchemy as sa

from fdelib import conductor, oms
from fdelib.conductor.workers import Workers
from fdelib.oms import services, workflow
from fdelib.oms.orders import TERMINAL

STOCK = 100


@pytest.fixture(scope="module")
def shop(engine):
    oms.seed(engine, stock=STOCK)
    clients = conductor.clients()
    workflow.register(conductor.executor(), clients.get_metadata_client())
    with Workers(["fdelib.oms.workers"]):
        yield clients


def outcome(order_id):
    frame = oms.outcomes()
    return frame.set_index("order_id").loc[order_id]


def test_happy_path_completes_every_order(shop):
    result = oms.run_orders(shop, oms.make_orders(5, prefix="HAPPY"), progress=False)
    assert list(result["workflow"]) == ["COMPLETED"] * 5
    assert list(result["compensation"]) == [""] * 5
    books = oms.outcomes().query("order_id.str.startswith('HAPPY')")
    assert (books["status"] == "COMPLETED").all()
    assert (books["charged"] == books["amount"]).all() and (books["refunded"] == 0).all()
    assert (books["delivery"] == "SCHEDULED").all() and books["tracking"].str.startswith("TRK").all()
    assert (books["notified"] == "completed,received").all()
    assert (oms.audit(initial_stock=STOCK) == 0).all()


@pytest.mark.parametrize("fault, charged", [("payment_declined", 0.0), ("stock_out", None),
                                            ("delivery_failure", None)])
def test_each_fault_ends_fully_compensated(shop, fault, charged):
    order = oms.make_orders(1, fault=fault, faulty=1, prefix=fault.upper())[0]
    result = oms.run_orders(shop, [order], progress=False).iloc[0]
    assert result["workflow"] == "FAILED" and result["compensation"] == "COMPLETED"
    books = outcome(order["order_id"])
    assert books["status"] == "CANCELLED"
    assert books["refunded"] == books["charged"]               # whatever was charged came back
    if charged is not None:
        assert books["charged"] == charged
    assert set(books["stock"].split(",")) <= {"", "RELEASED"}     # nothing left booked
    assert "cancelled" in books["notified"].split(",")
    assert (oms.audit(initial_stock=STOCK) == 0).all()


def test_a_worker_killed_after_charging_never_charges_twice(shop, engine):
    order = oms.make_orders(1, fault="payment_worker_crash", faulty=1, prefix="CRASH")[0]
    result = oms.run_orders(shop, [order], timeout=60, progress=False).iloc[0]
    assert result["workflow"] == "COMPLETED"
    history = shop.get_workflow_client().get_workflow(result["workflow_id"], include_tasks=True)
    payment = [t for t in history.tasks if t.reference_task_name == "payment"]
    assert [t.status for t in payment] == ["TIMED_OUT", "COMPLETED"]   # the dead worker's attempt, then the retry
    assert payment[1].output_data["charged_on_attempt"] == 0          # the retry found the first charge
    charges = oms.outcomes().set_index("order_id").loc[order["order_id"]]
    assert charges["charged"] == order["amount"]
    assert (oms.audit(initial_stock=STOCK) == 0).all()


def test_a_worker_killed_before_charging_charges_once_on_the_retry(shop, engine):
    order = oms.make_orders(1, fault="payment_crash_before_charge", faulty=1, prefix="EARLYCRASH")[0]
    result = oms.run_orders(shop, [order], timeout=60, progress=False).iloc[0]
    assert result["workflow"] == "COMPLETED" and result["compensation"] == ""
    with engine.connect() as conn:
        fired = conn.execute(sa.text("SELECT fault FROM oms.fired_faults WHERE order_id = :o"),
                             {"o": order["order_id"]}).scalars().all()
        charges = conn.execute(sa.text("SELECT amount, attempt FROM oms.payments WHERE order_id = :o "
                                       "AND kind = 'charge'"), {"o": order["order_id"]}).all()
    assert fired == ["payment_crash_before_charge"]                  # the worker did die
    history = shop.get_workflow_client().get_workflow(result["workflow_id"], include_tasks=True)
    payment = [t for t in history.tasks if t.reference_task_name == "payment"]
    assert payment[0].status == "TIMED_OUT" and payment[-1].status == "COMPLETED"
    assert len(charges) == 1 and float(charges[0].amount) == order["amount"]   # exactly one charge
    assert charges[0].attempt >= 1                                   # made by a retry: the dead attempt charged nothing
    assert payment[-1].output_data["charged_on_attempt"] == charges[0].attempt
    assert outcome(order["order_id"])["status"] == "COMPLETED"
    assert (oms.audit(initial_stock=STOCK) == 0).all()


def wait_until_ended(clients, workflow_id, timeout=30):
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
        clients.get_workflow_client().get_workflow(failed_id, include_tasks=True))
    request = StartWorkflowRequest(name=workflow.COMPENSATION_WORKFLOW, version=1, input={
        **failed["input"], "workflowId": failed_id, "failureStatus": "FAILED", "failedWorkflow": failed,
        "reason": "Task 'notify_completed' failed with status FAILED and reason: 'mail server down'"})
    return wait_until_ended(clients, clients.get_workflow_client().start_workflow(request))


def test_a_compensation_leaves_a_completed_order_alone(shop, engine):
    """The order workflow failed after it closed the order (its last notification failed
    every retry, or it timed out): no cancel, no refund, no "cancelled" message."""
    order = oms.make_orders(1, prefix="LATEFAIL")[0]
    result = oms.run_orders(shop, [order], progress=False).iloc[0]
    undo = compensate(shop, result["workflow_id"])
    books = outcome(order["order_id"])
    assert books["status"] == "COMPLETED" and books["refunded"] == 0 and books["delivery"] == "SCHEDULED"
    assert books["notified"] == "completed,received"
    assert undo.status == "COMPLETED" and undo.output["order"] == "COMPLETED"   # nothing to undo
    assert (oms.audit(initial_stock=STOCK) == 0).all()

    services.notify(order["order_id"], "cancelled", "a bug", engine=engine)   # what the bug did
    try:
        assert oms.audit(initial_stock=STOCK)["completed_told_cancelled"] == 1
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM oms.notifications WHERE order_id = :o AND stage = 'cancelled'"),
                         {"o": order["order_id"]})


def test_an_order_refused_at_acknowledgement_has_nothing_to_compensate(shop):
    order = {**oms.make_orders(1, prefix="REFUSED")[0], "customer_id": "C9999"}
    result = oms.run_orders(shop, [order], progress=False).iloc[0]
    assert result["workflow"] == "FAILED" and "unknown customer" in result["reason"]
    assert result["compensation"] == "COMPLETED"
    assert order["order_id"] not in set(oms.outcomes()["order_id"])
    assert (oms.audit(initial_stock=STOCK) == 0).all()


def test_200_concurrent_orders_never_oversell(shop, engine):
    oms.seed(engine, stock=40)           # fewer units than 200 orders want: some must be refused
    orders = oms.make_orders(200, seed=9, prefix="RUSH")
    result = oms.run_orders(shop, orders, timeout=240, progress=False)
    assert len(result) == 200
    assert set(result["workflow"]) <= {"COMPLETED", "FAILED"}
    failed = result[result["workflow"] == "FAILED"]
    assert len(failed) > 0 and (failed["compensation"] == "COMPLETED").all()
    assert failed["reason"].str.contains("out of stock").all()
    audit = oms.audit(initial_stock=40)
    assert (audit == 0).all(), audit.to_dict()
    books = oms.outcomes()
    assert set(books["status"]) == {"COMPLETED", "CANCELLED"}
