"""Microservices read off the code, and one service upgraded while orders flow."""

from fdelib import conductor, oms
from fdelib.conductor.workers import module_workers
from fdelib.oms import choreography, contexts, workflow

SERVICES = {"acknowledgement", "delivery", "inventory", "notification", "payment"}


def test_every_task_type_belongs_to_one_service():
    owners = contexts.task_owners()
    assert set(owners["service"]) == SERVICES
    assert owners["task type"].is_unique and len(owners) == 10
    assert owners.set_index("task type").loc["oms_refund_payment", "service"] == "payment"  # the undo lives
    assert owners.set_index("task type").loc["oms_release_stock", "service"] == "inventory"  # with its data


def test_every_table_has_exactly_one_writing_service():
    access = contexts.table_access()
    writers = access[access["access"] == "writes"].groupby("table")["service"].agg(set)
    assert writers.map(len).eq(1).all(), writers.to_dict()
    assert writers.to_dict() == {
        "order_items": {"acknowledgement"},
        "order_requests": {"acknowledgement"},
        "orders": {"acknowledgement"},
        "payments": {"payment"},
        "products": {"inventory"},
        "stock_bookings": {"inventory"},
        "deliveries": {"delivery"},
        "notifications": {"notification"},
    }
    assert (contexts.cohesion()["writes to own tables"] == 1.0).all()
    assert contexts.contexts().loc["payment", "reads from other contexts"] == "orders"


def test_the_event_map_comes_from_a_run(engine):
    oms.seed(engine)
    pair = oms.make_orders(2, prefix="CTXEV")
    pair[1]["fault"] = "stock_out"
    choreography.place(pair, engine)
    events = contexts.events(choreography.run(engine))
    assert events.loc["inventory", "published"] == "StockBooked, StockOut"
    assert "OrderCancelled" in events.loc["payment", "reacts to"]


def test_two_modules_serving_one_task_type_stay_apart():
    import fdelib.oms.payment_v2  # noqa: F401  (registers oms_process_payment again)

    v1 = module_workers("fdelib.oms.workers")[("oms_process_payment", None)]["func"]
    v2 = module_workers("fdelib.oms.payment_v2")[("oms_process_payment", None)]["func"]
    assert v1.__module__ == "fdelib.oms.workers" and v2.__module__ == "fdelib.oms.payment_v2"


def test_a_rolling_upgrade_of_the_payment_service_loses_no_order(engine):
    clients = conductor.clients()
    oms.seed(engine)
    workflow.register(conductor.executor(), clients.get_metadata_client())
    report = contexts.rolling_upgrade(clients, oms.make_orders(8, prefix="ROLL"), timeout=900)
    assert report.to_dict() == {
        "orders placed during the upgrade": 8,
        "completed": 8,
        "first wave: some served by the old version": True,
        "second wave: all served by the new version": True,
        "other services' worker processes restarted": 0,
        "audit violations": 0,
    }
    last = contexts.payment_output(clients, "ROLL-00008")
    assert last["service_version"] == 2 and last["receipt"] == "RCPT-ROLL-00008" and last["status"] == "CHARGED"
