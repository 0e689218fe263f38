"""The order saga end to end: real conductor-python workers (TaskHandler processes), the
local engine as a background process, PostgreSQL for both."""

import pytest

from fdelib import conductor, oms
from fdelib.conductor.workers import Workers
from fdelib.oms import workflow

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
