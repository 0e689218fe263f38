"""The credit check learners add to the order workflow, and the steps they build it from."""

import pytest

from fdelib import oms
from fdelib.oms import credit, services, workflow
from fdelib.oms.services import Refused


@pytest.fixture
def shop(engine):
    oms.seed(engine, stock=100)
    return engine


def place(engine, order_id, items, workflow_id="wf-credit"):
    amount = round(sum(float({s: p for s, _, p in oms.orders.PRODUCTS}[i["sku"]]) * i["quantity"] for i in items), 2)
    services.acknowledge(
        {
            "order_id": order_id,
            "customer_id": "C0001",
            "items": items,
            "amount": amount,
            "address": "1 Market Street, Springfield",
            "received_at": "2026-01-02T10:00:00+00:00",
        },
        workflow_id,
        engine=engine,
    )


def test_orders_up_to_the_limit_are_approved_larger_ones_reviewed(shop):
    place(shop, "ORD-SMALL", [{"sku": "SKU-MUG", "quantity": 1}])
    place(shop, "ORD-EDGE", [{"sku": "SKU-BOND-ETF", "quantity": 3}])  # 149.70
    place(shop, "ORD-LARGE", [{"sku": "SKU-BOOK", "quantity": 3}])  # 177.00
    decisions = {
        o: credit.check_credit(o, "wf-credit", engine=shop)["decision"] for o in ("ORD-SMALL", "ORD-EDGE", "ORD-LARGE")
    }
    assert decisions == {"ORD-SMALL": "APPROVED", "ORD-EDGE": "APPROVED", "ORD-LARGE": "REVIEW"}
    assert credit.check_credit("ORD-LARGE", engine=shop)["amount"] == 177.0


def test_an_order_not_stored_or_another_workflows_is_refused(shop):
    with pytest.raises(Refused, match="order ORD-NONE does not exist"):
        credit.check_credit("ORD-NONE", "wf-credit", engine=shop)
    place(shop, "ORD-SMALL", [{"sku": "SKU-MUG", "quantity": 1}])
    with pytest.raises(Refused, match="belongs to workflow wf-credit"):
        credit.check_credit("ORD-SMALL", "wf-other", engine=shop)


def test_the_order_workflow_is_its_steps_in_order():
    steps = workflow.order_steps()
    assert list(steps) == ["acknowledge", "replay_check", "notify_received", "pay_and_book", "payment_outcome"]
    refs = [t["taskReferenceName"] for t in workflow.definition(workflow.order_workflow(None))["tasks"]]
    assert refs == [
        "acknowledge",
        "replay_check",
        "notify_received",
        "pay_and_book",
        "pay_and_book_join",
        "payment_outcome",
    ]  # (the fork brings its join)
    assert workflow.order_steps()["acknowledge"] is not steps["acknowledge"]  # new objects every call
