"""The services on their own (no engine, no workers): hostile orders, catalogue prices,
order ids as idempotency keys, ownership, and the audit that finds broken promises."""

import copy
import math

import pytest
import sqlalchemy as sa

from fdelib import db, oms
from fdelib.oms import services
from fdelib.oms.services import Refused

STOCK = 100
W1, W2 = "wf-first", "wf-second"


@pytest.fixture
def shop(engine):
    oms.seed(engine, stock=STOCK)
    return engine


def desk_order(**changes):
    """2 x SKU-DESK at 24.00: the catalogue total is 48.00."""
    order = {
        "order_id": "ORD-DESK",
        "customer_id": "C0001",
        "items": [{"sku": "SKU-DESK", "quantity": 2}],
        "amount": 48.00,
        "address": "1 Market Street, Springfield",
        "received_at": "2026-01-02T10:00:00+00:00",
        "fault": None,
    }
    order.update(changes)
    return order


def nothing_happened(engine, order_id="ORD-DESK"):
    with engine.connect() as conn:
        orders = conn.execute(sa.text("SELECT count(*) FROM oms.orders WHERE order_id = :o"), {"o": order_id}).scalar()
        stock = conn.execute(sa.text("SELECT sum(stock) FROM oms.products")).scalar()
        money = conn.execute(sa.text("SELECT count(*) FROM oms.payments")).scalar()
    return orders == 0 and stock == STOCK * len(oms.orders.PRODUCTS) and money == 0


# --- point 3: the shop prices orders from its catalogue ---------------------------------


def test_a_stated_total_below_the_catalogue_is_refused_naming_both(shop):
    with pytest.raises(
        Refused,
        match=r"the stated total 0\.01 differs from the catalogue total 48\.00 "
        r"\(2 x SKU-DESK at 24\.00\); nothing was charged",
    ):
        services.acknowledge(desk_order(amount=0.01), W1, engine=shop)
    assert nothing_happened(shop)


@pytest.mark.parametrize("amount", [48, 48.0, "48.00", "48"])
def test_the_catalogue_total_in_any_json_spelling_is_accepted_and_charged(shop, amount):
    placed = services.acknowledge(desk_order(amount=amount), W1, engine=shop)
    assert placed["outcome"] == "PLACED" and placed["amount"] == 48.0
    assert services.charge("ORD-DESK", workflow_id=W1, engine=shop)["amount"] == 48.0
    items = db.read_frame("SELECT sku, quantity, unit_price FROM oms.order_items", engine=shop)
    assert items.to_dict("records") == [{"sku": "SKU-DESK", "quantity": 2, "unit_price": 24.0}]


def test_the_charge_is_the_stored_catalogue_total_not_a_later_figure(shop):
    services.acknowledge(desk_order(), W1, engine=shop)
    with shop.begin() as conn:  # the catalogue changes after the order was placed
        conn.execute(sa.text("UPDATE oms.products SET price = 1.00 WHERE sku = 'SKU-DESK'"))
    assert services.charge("ORD-DESK", workflow_id=W1, engine=shop)["amount"] == 48.0
    assert (oms.audit(shop, initial_stock=STOCK).drop("orders_in_limbo") == 0).all()


HOSTILE = {
    "unknown SKU": (desk_order(items=[{"sku": "SKU-YACHT", "quantity": 1}], amount=1), "unknown product.*SKU-YACHT"),
    "zero quantity": (desk_order(items=[{"sku": "SKU-DESK", "quantity": 0}]), "SKU-DESK must be a whole number from 1"),
    "negative quantity": (
        desk_order(items=[{"sku": "SKU-DESK", "quantity": -2}], amount=-48),
        "SKU-DESK must be a whole number from 1 to 1000, got -2",
    ),
    "fractional quantity": (
        desk_order(items=[{"sku": "SKU-DESK", "quantity": 1.5}], amount=36),
        "whole number.*got 1.5",
    ),
    "quantity as text": (desk_order(items=[{"sku": "SKU-DESK", "quantity": "2"}]), "whole number.*got '2'"),
    "quantity true": (desk_order(items=[{"sku": "SKU-DESK", "quantity": True}]), "whole number.*got True"),
    "huge quantity": (
        desk_order(items=[{"sku": "SKU-DESK", "quantity": 10**12}], amount=24 * 10**12),
        "whole number from 1 to 1000, got 1000000000000",
    ),
    "NaN quantity": (desk_order(items=[{"sku": "SKU-DESK", "quantity": math.nan}]), "whole number.*got nan"),
    "duplicate SKUs": (
        desk_order(items=[{"sku": "SKU-DESK", "quantity": 1}, {"sku": "SKU-DESK", "quantity": 1}]),
        "SKU-DESK appears twice",
    ),
    "NaN amount": (desk_order(amount=math.nan), "stated amount nan is not a finite number"),
    "NaN amount as text": (desk_order(amount="NaN"), "stated amount 'NaN' is not a finite number"),
    "Infinity amount": (desk_order(amount=math.inf), "stated amount inf is not a finite number"),
    "-Infinity amount": (desk_order(amount=-math.inf), "stated amount -inf is not a finite number"),
    "negative amount": (desk_order(amount=-48), "stated amount -48 must be more than 0"),
    "fractions of a cent": (desk_order(amount=48.001), "has more than two decimals"),
    "amount as a list": (desk_order(amount=[48]), "stated amount \\[48\\] is not a number"),
    "too many items": (
        desk_order(items=[{"sku": f"SKU-{i}", "quantity": 1} for i in range(51)]),
        "51 items; an order holds at most 50",
    ),
    "an item that is not an object": (desk_order(items=["SKU-DESK"]), "item 1 must be an object with sku and quantity"),
    "an item without quantity": (desk_order(items=[{"sku": "SKU-DESK"}]), "item 1 must be an object"),
    "items not a list": (desk_order(items={"sku": "SKU-DESK", "quantity": 2}), "items must be a list"),
    "unknown customer": (desk_order(customer_id="C9999"), "unknown customer C9999"),
    "unknown fault": (desk_order(fault="meteor"), "unknown fault 'meteor'"),
    "received at infinity": (desk_order(received_at="infinity"), "received_at must be an ISO 8601 time"),
    "received without a UTC offset": (desk_order(received_at="2026-01-02T10:00:00"), "with its UTC offset"),
    "an order id with a newline": (desk_order(order_id="ORD\n1"), "order_id must be 1-64 letters"),
    "an order that is a list": ([desk_order()], "an order must be a JSON object, got list"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_orders_are_refused_clearly_and_change_nothing(shop, case):
    order, message = HOSTILE[case]
    with pytest.raises(Refused, match=message):
        services.acknowledge(copy.deepcopy(order), W1, engine=shop)
    assert nothing_happened(shop)


@pytest.mark.parametrize("field", ["order_id", "customer_id", "items", "amount", "address", "received_at"])
def test_each_missing_field_is_named(shop, field):
    order = desk_order()
    del order[field]
    with pytest.raises(Refused, match=f"is missing {field}$"):
        services.acknowledge(order, W1, engine=shop)
    assert nothing_happened(shop)


def test_money_columns_refuse_nan_even_from_sql(shop):
    services.acknowledge(desk_order(), W1, engine=shop)
    for statement in (
        "UPDATE oms.products SET price = 'NaN' WHERE sku = 'SKU-DESK'",
        "UPDATE oms.orders SET amount = 'NaN'",
        "UPDATE oms.order_items SET unit_price = 'NaN'",
        "INSERT INTO oms.payments (order_id, kind, amount, attempt) VALUES ('ORD-DESK', 'charge', 'NaN', 0)",
    ):
        with pytest.raises(sa.exc.IntegrityError, match="is_a_number"), shop.begin() as conn:
            conn.execute(sa.text(statement))


# --- point 4: an order id is an idempotency key ------------------------------------------


def test_a_retry_of_the_same_workflow_is_its_own_placement(shop):
    first = services.acknowledge(desk_order(), W1, engine=shop)
    again = services.acknowledge(desk_order(), W1, engine=shop)
    assert first["outcome"] == again["outcome"] == "PLACED"
    assert db.read_scalar("SELECT count(*) FROM oms.order_requests", engine=shop) == 1


def test_a_replay_answers_with_the_original_outcome_and_does_nothing_twice(shop):
    services.acknowledge(desk_order(), W1, engine=shop)
    assert services.acknowledge(desk_order(), W2, engine=shop)["outcome"] == "IN_PROGRESS"
    services.charge("ORD-DESK", workflow_id=W1, engine=shop)
    services.book_stock("ORD-DESK", workflow_id=W1, engine=shop)
    delivery = services.schedule_delivery("ORD-DESK", workflow_id=W1, engine=shop)
    told = {"payment": "CHARGED", "tracking": delivery["tracking"], "expected_on": delivery["expected_on"]}
    services.close("ORD-DESK", workflow_id=W1, outcome=told, engine=shop)  # what the workflow reports
    replay = services.acknowledge(desk_order(received_at="2026-01-05T09:00:00+00:00"), W2, engine=shop)
    assert replay["outcome"] == "REPLAY_COMPLETED"
    assert replay["original"] == {"order_id": "ORD-DESK", **told, "replay_of": W1}
    assert told["expected_on"] == "2026-01-07" and told["tracking"].startswith("TRK")
    requests = db.read_frame("SELECT workflow_id, outcome FROM oms.order_requests ORDER BY outcome", engine=shop)
    assert requests.to_dict("records") == [
        {"workflow_id": W1, "outcome": "PLACED"},
        {"workflow_id": W2, "outcome": "REPLAYED"},
    ]


def test_a_replay_of_a_cancelled_order_reports_its_cancellation(shop):
    services.acknowledge(desk_order(), W1, engine=shop)
    services.cancel("ORD-DESK", "the card was declined", workflow_id=W1, engine=shop)
    replay = services.acknowledge(desk_order(fault=None), W2, engine=shop)
    assert replay["outcome"] == "REPLAY_CANCELLED"
    assert replay["reason"] == "order ORD-DESK was already cancelled: the card was declined"


@pytest.mark.parametrize(
    "changes, differs",
    [
        ({"customer_id": "C0002"}, r"customer differs \(was C0001, now C0002\)"),
        ({"items": [{"sku": "SKU-MUG", "quantity": 4}]}, r"items differ \(was 2 x SKU-DESK, now 4 x SKU-MUG\)"),
        ({"amount": 0.01}, r"amount differs \(was 48\.00, now 0\.01\)"),
        ({"address": "9 Elm Row"}, r"address differs \(was '1 Market Street, Springfield', now '9 Elm Row'\)"),
        (
            {"items": [{"sku": "SKU-DESK", "quantity": 3}], "amount": 72},
            r"items differ \(was 2 x SKU-DESK, now 3 x SKU-DESK\); amount differs \(was 48\.00, now 72\.00\)",
        ),
    ],
)
def test_the_same_id_with_other_content_is_refused_naming_what_differs(shop, changes, differs):
    services.acknowledge(desk_order(), W1, engine=shop)
    with pytest.raises(Refused, match=r"order ORD-DESK was already placed with other content: " + differs):
        services.acknowledge(desk_order(**changes), W2, engine=shop)
    stored = db.read_frame("SELECT customer_id, amount, address, workflow_id FROM oms.orders", engine=shop)
    assert stored.to_dict("records") == [
        {"customer_id": "C0001", "amount": 48.0, "address": "1 Market Street, Springfield", "workflow_id": W1}
    ]


def test_only_the_workflow_that_placed_an_order_acts_on_it(shop):
    services.acknowledge(desk_order(), W1, engine=shop)
    for step in (
        lambda: services.charge("ORD-DESK", workflow_id=W2, engine=shop),
        lambda: services.book_stock("ORD-DESK", workflow_id=W2, engine=shop),
        lambda: services.schedule_delivery("ORD-DESK", workflow_id=W2, engine=shop),
        lambda: services.close("ORD-DESK", workflow_id=W2, engine=shop),
        lambda: services.notify("ORD-DESK", "received", workflow_id=W2, engine=shop),
    ):
        with pytest.raises(Refused, match=f"order ORD-DESK belongs to workflow {W1}, not to {W2}"):
            step()
    # the compensation of a refused or replayed request leaves the first one's order alone
    assert services.cancel("ORD-DESK", "a duplicate failed", workflow_id=W2, engine=shop)["status"] == "NOT_OWNER"
    assert db.read_scalar("SELECT status FROM oms.orders", engine=shop) == "ACKNOWLEDGED"
    assert db.read_scalar("SELECT count(*) FROM oms.payments", engine=shop) == 0


def test_a_cancelled_order_is_never_completed_nor_told_it_is_on_its_way(shop):
    services.acknowledge(desk_order(), W1, engine=shop)
    services.cancel("ORD-DESK", "stock out", workflow_id=W1, engine=shop)
    with pytest.raises(Refused, match="order ORD-DESK was cancelled \\(stock out\\); it cannot be completed"):
        services.close("ORD-DESK", workflow_id=W1, engine=shop)
    with pytest.raises(Refused, match="order ORD-DESK is CANCELLED: the customer cannot be sent the 'completed'"):
        services.notify("ORD-DESK", "completed", workflow_id=W1, engine=shop)
    services.acknowledge(desk_order(order_id="ORD-OTHER"), W2, engine=shop)
    with pytest.raises(Refused, match="is ACKNOWLEDGED: the customer cannot be sent the 'cancelled'"):
        services.notify("ORD-OTHER", "cancelled", workflow_id=W2, engine=shop)


# --- the audit finds what the attacks used to leave behind ------------------------------


def test_the_audit_finds_contradictory_notifications_and_wrong_money(shop):
    services.acknowledge(desk_order(), W1, engine=shop)
    services.charge("ORD-DESK", workflow_id=W1, engine=shop)
    services.cancel("ORD-DESK", "stock out", workflow_id=W1, engine=shop)
    services.refund("ORD-DESK", workflow_id=W1, engine=shop)
    services.notify("ORD-DESK", "cancelled", "stock out", workflow_id=W1, engine=shop)
    assert (oms.audit(shop, initial_stock=STOCK) == 0).all()
    with shop.begin() as conn:  # what the old bug did, and a client-stated charge
        conn.execute(sa.text("INSERT INTO oms.notifications VALUES ('ORD-DESK', 'completed', 'on its way')"))
        conn.execute(sa.text("UPDATE oms.payments SET amount = 0.01 WHERE kind = 'charge'"))
        conn.execute(sa.text("UPDATE oms.orders SET amount = 0.01"))
    found = oms.audit(shop, initial_stock=STOCK)
    assert found[["not_completed_told_completed", "not_catalogue_priced", "charged_other_than_the_price"]].tolist() == [
        1,
        1,
        1,
    ]
