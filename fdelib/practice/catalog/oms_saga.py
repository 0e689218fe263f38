"""04_oms/02_saga_compensation: the money each order leaves with the shop (SQL), why a
crashed payment worker does not charge twice, and a compensation workflow written with
conductor-python, run by the check through an order that fails after payment."""

from conductor.client.workflow.conductor_workflow import ConductorWorkflow
from conductor.client.workflow.task.terminate_task import TerminateTask, WorkflowStatus

from fdelib.practice import Catalog, Wrong

from ._oms_runs import SMALL, OrderWorkflow, practice_name, register

catalog = Catalog("04_oms/02_saga_compensation.ipynb")

# A small copy: a completed order, a cancelled one charged and refunded, a declined payment, an
# order never charged (no payment row at all), rows out of order.
PAYMENTS = """
CREATE TABLE orders (order_id text PRIMARY KEY, customer_id text, amount numeric(12,2), address text,
    status text NOT NULL, fault text, received_at timestamptz, closed_at timestamptz, reason text);
INSERT INTO orders (order_id, customer_id, amount, status) VALUES ('O-4', 'C-4', 12.00, 'CANCELLED'),
    ('O-1', 'C-1', 91.40, 'COMPLETED'), ('O-3', 'C-3', 30.00, 'CANCELLED'), ('O-2', 'C-2', 50.00, 'CANCELLED'),
    ('O-5', 'C-5', 20.00, 'COMPLETED');
CREATE TABLE payments (payment_id integer PRIMARY KEY, order_id text NOT NULL, kind text NOT NULL,
    amount numeric(12,2) NOT NULL, attempt integer);
INSERT INTO payments VALUES (4, 'O-2', 'refund', 50.00, 0), (1, 'O-1', 'charge', 91.40, 0),
    (3, 'O-3', 'declined', 30.00, 0), (2, 'O-2', 'charge', 50.00, 1), (5, 'O-5', 'charge', 20.00, 0);
"""

catalog.sql_query(
    "money_kept",
    copy=PAYMENTS,
    copy_of=("oms",),
    copy_says="a small copy of oms.orders and oms.payments (a declined payment, an order charged and "
    "refunded, an order never charged)",
    blank_hint="Write a SELECT under the cell's first line (keep `%%sql --save money_kept`): every "
    "order of oms.orders with its payments (oms.payments: kind is charge, refund or "
    "declined), grouped by order; then run this check.",
    wrong=[
        Wrong(
            "%%sql --save money_kept\n"
            "SELECT o.order_id, o.status, coalesce(sum(p.amount), 0)::numeric(12,2) AS money_kept\n"
            "FROM oms.orders o LEFT JOIN oms.payments p USING (order_id)\n"
            "GROUP BY o.order_id, o.status\nORDER BY o.order_id\n",
            "sum(amount) adds the refund to the charge: an order charged 91.40 and refunded 91.40 "
            "shows 182.80. A refund is money going back: subtract it (sum(...) FILTER (WHERE "
            "kind = 'refund')).",
        ),
        Wrong(
            "%%sql --save money_kept\n"
            "SELECT o.order_id, o.status,\n"
            "       (sum(p.amount) FILTER (WHERE p.kind = 'charge')\n"
            "        - sum(p.amount) FILTER (WHERE p.kind = 'refund'))::numeric(12,2) AS money_kept\n"
            "FROM oms.orders o LEFT JOIN oms.payments p USING (order_id)\n"
            "GROUP BY o.order_id, o.status\nORDER BY o.order_id\n",
            "An order never refunded has no refund rows: its sum is NULL, and charge - NULL is "
            "NULL, so completed orders show no money at all. coalesce(..., 0) each sum.",
        ),
    ],
    passed="Completed orders keep their price, cancelled ones keep 0 whatever the timing (the "
    "stock-out's payment may or may not have charged before the workflow failed): the "
    "saga's promise, checked in SQL. oms.settlement computes the same column.",
)

catalog.choice(
    "charged_once",
    name="charged_once",
    options={
        "A": "Conductor knew the first attempt had charged, and skipped the charge",
        "B": "the payment service keys the charge by order id: attempt 1 found attempt 0's charge and reported it",
        "C": "the response timeout stopped the charge before it was committed",
        "D": "the compensation workflow refunded the second charge",
    },
    correct="B",
    hints={
        "A": "Conductor cannot know: to it both crashes look the same, a silent worker, and the "
        "worker that died before charging had charged nothing. It retries either way.",
        "C": "The charge was committed before the crash (charged_on_attempt is 0): nothing on the "
        "engine's side can undo a committed transaction.",
        "D": "No compensation ran: the order completed, and the audit's charged_twice is 0. A "
        "refund would only hide a double charge, not prevent it.",
    },
    blank_hint="Look at the payment attempts of the order whose worker crashed after charging: what "
    'did attempt 1 answer, and from where? Answer with a letter: charged_once = "A" (or '
    "B, C, D).",
    passed="Retries are the engine's job, not charging twice is the service's: an idempotent step, "
    "keyed by a business id, makes every retry safe, whatever the engine knows.",
)


class Compensation(OrderWorkflow):
    """The learner's compensation, as the failure workflow of an order workflow that charges
    the card and books the stock, then fails (as a delivery that no carrier takes would)."""

    def workflow_to_run(self, definition):
        undo = practice_name(self.id, definition)
        refused = register(definition, undo)
        if refused:
            return refused, undo
        from fdelib.oms import workflow

        steps = workflow.order_steps()
        failing = ConductorWorkflow(executor=None, name="failing_order", version=1)
        failing >> steps["acknowledge"] >> steps["replay_check"] >> steps["pay_and_book"]
        failing >> TerminateTask("no_carrier", WorkflowStatus.FAILED, "no carrier accepted the parcel")
        order = workflow.definition(failing)
        name = f"{undo}_order"
        return register(order, name, failureWorkflow=undo), name

    def outcome(self, entry, books):
        undo = entry.get("compensation")
        return (
            "the compensation ended " + undo["status"] if undo else "no compensation ran",
            f"the order is {books['status']}",
            f"the shop keeps {books['kept']:.2f}",
            "stock is still booked" if books["booked"] else "no stock is booked",
        )


def _compensation(*tasks: tuple[str, str]) -> str:
    text = 'failed = {"order_id": workflow.FAILED_ORDER_ID, "workflow_id": workflow.FAILED_WORKFLOW_ID}\n'
    refs = []
    for kind, ref in tasks:
        text += f'{ref} = SimpleTask(task_def_name="{kind}", task_reference_name="{ref}")\n'
        text += f"{ref}.input_parameters.update(failed)\n"
        refs.append(ref)
    return (
        text + 'my_compensation = ConductorWorkflow(executor=executor, name="my_compensation", version=1)\n'
        f"my_compensation >> {' >> '.join(refs)}\n"
    )


CANCEL, REFUND, RELEASE = (
    ("oms_cancel_order", "cancel"),
    ("oms_refund_payment", "refund"),
    ("oms_release_stock", "release"),
)

catalog.add(
    Compensation(
        id="refund_compensation",
        notebook=catalog.notebook,
        name="my_compensation",
        orders=(SMALL,),
        expect=(
            ("the compensation ended COMPLETED", "the order is CANCELLED", "the shop keeps 0.00", "no stock is booked"),
        ),
        blank="my_compensation = ...   # a ConductorWorkflow: cancel the order, refund it, release its stock\n",
        blank_hint="Chain SimpleTasks of the compensation types (oms_cancel_order, oms_refund_payment, "
        "oms_release_stock) into a ConductorWorkflow, my_compensation; each needs order_id and "
        "workflow_id of the FAILED workflow: workflow.FAILED_ORDER_ID, workflow.FAILED_WORKFLOW_ID.",
        wrong=(
            Wrong(
                _compensation(REFUND, RELEASE),
                "Nothing was undone: the payment and inventory services refund and release only a "
                "CANCELLED order (so a compensation can never undo an order that is still going "
                "ahead). Cancel the order first, then refund and release.",
            ),
            Wrong(
                _compensation(CANCEL, REFUND),
                "The money is back, but the stock is still booked: three units nobody will ship are "
                "off the shelves. Undo every step that was done: release the stock too "
                "(oms_release_stock).",
            ),
            Wrong(
                _compensation(REFUND, RELEASE, CANCEL),
                "Undone in reverse order, the order was cancelled last: the refund and the release ran "
                "while it was still going ahead (ACKNOWLEDGED), so they did nothing, and the cancelled "
                "order keeps its money and its stock. Cancel first, then refund and release.",
            ),
        ),
        passed="The order failed after payment; your compensation cancelled it, refunded the charge and "
        "put the stock back, and the services' tables prove it. Cancel first: the services undo "
        "only a cancelled order, so a late step can never overtake the compensation.",
    )
)
