"""04_oms/01_order_workflow: revenue by product in SQL, a credit check added to the order
workflow, and a SWITCH that holds large orders for manual approval (both run on the engine)."""

from fdelib.oms.workflow import COMPENSATION_WORKFLOW
from fdelib.practice import Catalog, Wrong

from ..workflowcheck import definition_of
from ._oms_runs import LARGE, SMALL, OrderWorkflow, tasks_of

catalog = Catalog("04_oms/01_order_workflow.ipynb")

# A small copy of the order tables: a product repriced since it was sold, a price with four
# decimals, a cancelled and an in-flight order, an order of two mugs on one line, rows out of order.
ORDERS = """
CREATE TABLE products (sku text PRIMARY KEY, name text, price numeric(12,4) NOT NULL, stock integer);
INSERT INTO products VALUES ('SKU-PEN', 'Pen', 2.4950, 100), ('SKU-MUG', 'Mug', 13.5000, 10),
    ('SKU-BOOK', 'Book', 59.0000, 5);
CREATE TABLE orders (order_id text PRIMARY KEY, customer_id text, amount numeric(12,2), address text,
    status text NOT NULL, fault text, received_at timestamptz, closed_at timestamptz, reason text);
INSERT INTO orders (order_id, customer_id, amount, status) VALUES
    ('O-3', 'C-1', 118.00, 'CANCELLED'), ('O-1', 'C-1', 31.49, 'COMPLETED'), ('O-4', 'C-3', 24.95, 'ACKNOWLEDGED'),
    ('O-2', 'C-2', 71.00, 'COMPLETED');
CREATE TABLE order_items (order_id text NOT NULL, sku text NOT NULL, quantity integer NOT NULL,
    unit_price numeric(12,4));
INSERT INTO order_items VALUES ('O-2', 'SKU-BOOK', 1, 59.0000), ('O-1', 'SKU-MUG', 2, 12.0000),
    ('O-3', 'SKU-BOOK', 2, 59.0000), ('O-1', 'SKU-PEN', 3, 2.4950), ('O-4', 'SKU-PEN', 10, 2.4950),
    ('O-2', 'SKU-MUG', 1, 12.0000);
"""

catalog.sql_query(
    "revenue_by_sku",
    copy=ORDERS,
    copy_of=("oms",),
    copy_says="a small copy of the order tables (a mug repriced since it was sold, a pen at 2.4950, a "
    "cancelled and an in-flight order)",
    blank_hint="Write a SELECT under the cell's first line (keep `%%sql --save revenue_by_sku`): "
    "oms.order_items has sku, quantity and unit_price (the price the item was sold at); "
    "join oms.orders for the status, GROUP BY sku, then run this check.",
    wrong=[
        Wrong(
            "%%sql --save revenue_by_sku\n"
            "SELECT i.sku, count(*) AS units, sum(i.quantity * i.unit_price) AS revenue\n"
            "FROM oms.order_items i JOIN oms.orders o USING (order_id)\n"
            "WHERE o.status = 'COMPLETED'\nGROUP BY i.sku\nORDER BY revenue DESC, i.sku\n",
            "count(*) counts order lines, not units: an order of 2 mugs is one line. Units sold are sum(quantity).",
        ),
        Wrong(
            "%%sql --save revenue_by_sku\n"
            "SELECT i.sku, sum(i.quantity) AS units, sum(o.amount) AS revenue\n"
            "FROM oms.order_items i JOIN oms.orders o USING (order_id)\n"
            "WHERE o.status = 'COMPLETED'\nGROUP BY i.sku\nORDER BY revenue DESC, i.sku\n",
            "o.amount is the whole order's total: joined to its items, each product of the "
            "order is credited with everything the order cost. A product's revenue is "
            "quantity x unit_price of its own lines.",
        ),
    ],
    passed="Revenue per product, at the price each item was sold at (order_items.unit_price, "
    "which the order service copied from the catalogue when it priced the order), from "
    "completed orders only.",
)

STEPS = "steps = workflow.order_steps()\n"
CREDIT = (
    'credit_check = SimpleTask(task_def_name="oms_check_credit", task_reference_name="credit")\n'
    "credit_check.input_parameters.update(order_id=workflow.ORDER_ID, workflow_id=workflow.WORKFLOW_ID)\n"
)


def _flow(variable: str, chain: str, failure: bool = True) -> str:
    text = (
        f'{variable} = ConductorWorkflow(executor=executor, name="oms_order_{variable}", version=1)\n'
        f"{variable} >> {chain}\n"
    )
    return text + (f"{variable}.failure_workflow(workflow.COMPENSATION_WORKFLOW)\n" if failure else "")


def failure_workflow_named(definition) -> str:
    """What the question's "name workflow.COMPENSATION_WORKFLOW as its failure workflow" found."""
    named = (definition or {}).get("failureWorkflow") or ""
    return f"its failure workflow is {named}" if named else "it names no failure workflow"


class CreditCheck(OrderWorkflow):
    """The credit check must run, and end, after the order is stored and before the payment;
    the workflow names the compensation as its failure workflow, as the question asks (a small
    order never fails, so only the definition can show it)."""

    def behaviour(self, answer):
        got = super().behaviour(answer)
        if got and got[0] in ("not a workflow", "refused"):
            return got
        named = failure_workflow_named(definition_of(answer))
        return tuple((*outcome, named) if len(outcome) > 1 else outcome for outcome in got)

    def outcome(self, entry, books):
        run = entry["run"]
        credit, payment = tasks_of(run, "oms_check_credit"), tasks_of(run, "oms_process_payment")
        if not credit:
            placement = "no oms_check_credit task ran"
        elif credit[-1]["status"] != "COMPLETED":
            placement = f"the credit check ended {credit[-1]['status']}"
        elif not payment:
            placement = "no payment task ran"
        elif payment[0]["scheduledTime"] < credit[-1]["endTime"]:
            placement = "the payment was scheduled before the credit check had ended"
        else:
            placement = "the credit check ended before the payment was scheduled"
        return (f"the workflow ended {run['status']}", f"the order is {books['status']}", placement)


catalog.add(
    CreditCheck(
        id="credit_check_task",
        notebook=catalog.notebook,
        name="with_credit",
        orders=(SMALL,),
        expect=(
            (
                "the workflow ended COMPLETED",
                "the order is COMPLETED",
                "the credit check ended before the payment was scheduled",
                failure_workflow_named({"failureWorkflow": COMPENSATION_WORKFLOW}),
            ),
        ),
        blank="with_credit = ...   # a ConductorWorkflow: the order's steps, a credit check before the payment\n",
        blank_hint="Make a SimpleTask of type oms_check_credit (its inputs: order_id and workflow_id, as "
        "the other steps pass them), then chain the steps of workflow.order_steps() and your "
        "task into a new ConductorWorkflow, with_credit, in the right place.",
        wrong=(
            Wrong(
                CREDIT
                + STEPS
                + _flow(
                    "with_credit",
                    'steps["acknowledge"] >> steps["replay_check"] >> '
                    'steps["notify_received"] >> steps["pay_and_book"] >> credit_check >> '
                    'steps["payment_outcome"]',
                ),
                "Your credit check ran after the card was charged: pay_and_book had already paid. A "
                "check that can stop an order must come before the step it protects: put it between "
                "notify_received and pay_and_book.",
            ),
            Wrong(
                CREDIT
                + STEPS
                + _flow(
                    "with_credit",
                    'credit_check >> steps["acknowledge"] >> '
                    'steps["replay_check"] >> steps["notify_received"] >> '
                    'steps["pay_and_book"] >> steps["payment_outcome"]',
                ),
                "Your credit check ran first, before the order service had stored the order: it had "
                "no order to check, so it failed, and the workflow with it. It must come after "
                "acknowledge (and its replay check), before pay_and_book.",
            ),
        ),
        passed="The engine ran oms_check_credit after the order was stored and scheduled the payment "
        "only once the check had ended: a new service joined the flow by a change to the "
        "workflow's definition, without touching the other services.",
    )
)


class LargeOrderReview(OrderWorkflow):
    """Small orders complete; large ones stop before payment and are compensated."""

    def outcome(self, entry, books):
        return (
            f"the workflow ended {entry['run']['status']}",
            f"the order is {books['status']}",
            "the card was charged" if books["charged"] else "the card was never charged",
            "stock is booked" if books["booked"] else "no stock is booked",
        )


REVIEW = (
    'review = SwitchTask(task_ref_name="credit_decision", case_expression="${credit.output.decision}")\n'
    'review.switch_case("REVIEW", [TerminateTask("held_for_review", WorkflowStatus.FAILED, '
    '"held for manual approval")])\n'
)

catalog.add(
    LargeOrderReview(
        id="large_order_review",
        notebook=catalog.notebook,
        name="with_review",
        orders=(SMALL, LARGE),
        expect=(
            ("the workflow ended COMPLETED", "the order is COMPLETED", "the card was charged", "stock is booked"),
            ("the workflow ended FAILED", "the order is CANCELLED", "the card was never charged", "no stock is booked"),
        ),
        blank="with_review = ...   # a ConductorWorkflow: the credit check, then a SWITCH on its decision\n",
        blank_hint="After the credit check (as in the previous exercise), add a SwitchTask on "
        "${credit.output.decision} whose case REVIEW ends the workflow with a TerminateTask "
        "(WorkflowStatus.FAILED), then the rest of the steps; build it as with_review.",
        wrong=(
            Wrong(
                CREDIT
                + REVIEW
                + STEPS
                + _flow(
                    "with_review",
                    'steps["acknowledge"] >> steps["replay_check"] >> steps["notify_received"] >> '
                    'credit_check >> steps["pay_and_book"] >> review >> steps["payment_outcome"]',
                ),
                "The large order was stopped, but only after pay_and_book had charged the card (the "
                "compensation then refunded it). Decide before paying: put the SWITCH right after the "
                "credit check, before pay_and_book.",
            ),
            Wrong(
                CREDIT
                + REVIEW
                + STEPS
                + _flow(
                    "with_review",
                    'steps["acknowledge"] >> steps["replay_check"] >> steps["notify_received"] >> '
                    'credit_check >> review >> steps["pay_and_book"] >> steps["payment_outcome"]',
                    failure=False,
                ),
                "The large order was stopped before payment, but it is left ACKNOWLEDGED: nothing "
                "cancels it. A new ConductorWorkflow has no failure workflow until you name one: "
                "with_review.failure_workflow(workflow.COMPENSATION_WORKFLOW).",
            ),
        ),
        passed="Small orders are paid and shipped; a large one stops at the SWITCH before anything is "
        "charged or booked, and the failure workflow cancels it and tells the customer. A SWITCH "
        "on a task's output is how a workflow branches on a business decision.",
    )
)
