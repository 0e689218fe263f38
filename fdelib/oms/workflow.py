"""The order workflow and its compensation, written with conductor-python's DSL.

    order_workflow:  acknowledge ─► switch on its outcome
                                    REPLAY_COMPLETED: TERMINATE (COMPLETED, the original's output)
                                    REPLAY_CANCELLED: TERMINATE (FAILED, the original's reason)
                     ─► notify "received" ─► ┌ payment ┐ ─► join ─► switch on payment
                                              └ stock   ┘        DECLINED: TERMINATE (FAILED)
                                                                 else: delivery ─► close ─► notify "completed"
    failureWorkflow = order_compensation:
                     cancel order ─► switch on the order's status
                                     CANCELLED: ┌ refund ┌ release stock ┌ cancel delivery ┐ ─► join
                                                ─► notify "cancelled"
                                     else (COMPLETED, NEVER_ACKNOWLEDGED): nothing to undo

The order id is the client's idempotency key: a workflow started again with the same order
(a client's retry, or anyone calling the engine directly) waits while the first one runs and
then ends as it did — COMPLETED with its payment and tracking, or FAILED with its reason —
having charged, booked and told nothing; the same id with other content is refused (see
:mod:`.services.acknowledgement`). Every task passes its workflow's id, and the services act
only for the workflow that placed the order.

Any failure of the order workflow — a TERMINATE after a declined card, a stock-out (a
terminal error), a delivery that fails every retry, a timeout — makes Conductor start the
compensation workflow with the failed workflow in its input. Every compensation is
idempotent and undoes only what was done, so the saga ends in a completed order or a
fully compensated one: an order closed before the workflow failed (say, the last
notification failed every retry) stays completed, and the customer is not told otherwise;
an order another workflow placed (this one was a replay, or refused) is left alone.
"""

from __future__ import annotations

from typing import Any

from conductor.client.http.models import TaskDef
from conductor.client.workflow.conductor_workflow import ConductorWorkflow
from conductor.client.workflow.task.fork_task import ForkTask
from conductor.client.workflow.task.simple_task import SimpleTask
from conductor.client.workflow.task.switch_task import SwitchTask
from conductor.client.workflow.task.terminate_task import TerminateTask, WorkflowStatus

ORDER_WORKFLOW = "oms_order"
COMPENSATION_WORKFLOW = "oms_compensation"
ORDER_ID = "${workflow.input.order.order_id}"
FAILED_ORDER_ID = "${workflow.input.failedWorkflow.input.order.order_id}"
#: what a completed order workflow answers (and what the order service keeps for replays)
OUTCOME = {
    "payment": "${payment.output.status}",
    "tracking": "${delivery.output.tracking}",
    "expected_on": "${delivery.output.expected_on}",
}
WORKFLOW_ID = "${workflow.workflowId}"  # who asks: the services check it owns the order
FAILED_WORKFLOW_ID = "${workflow.input.workflowId}"  # the failed order workflow a compensation undoes


def task_defs(response_timeout: int = 3, retry_delay: int = 1) -> list[TaskDef]:
    """Retries and timeouts per task type — the part of a saga's reliability Conductor owns.

    ``response_timeout`` is how long a silent worker keeps its task before Conductor gives it
    to another (a worker that died); retries back off exponentially from ``retry_delay``.
    """

    def task(name: str, retries: int = 3) -> TaskDef:
        return TaskDef(
            name=name,
            retry_count=retries,
            retry_logic="EXPONENTIAL_BACKOFF",
            retry_delay_seconds=retry_delay,
            response_timeout_seconds=response_timeout,
            timeout_seconds=0,
            timeout_policy="TIME_OUT_WF",
            owner_email="course@fde.example.com",
        )

    return [
        task("oms_acknowledge_order"),
        task("oms_process_payment"),
        task("oms_book_stock"),
        task("oms_schedule_delivery", retries=2),
        task("oms_close_order"),
        task("oms_notify"),
        task("oms_cancel_order", retries=10),
        task("oms_refund_payment", retries=10),
        task("oms_release_stock", retries=10),
        task("oms_cancel_delivery", retries=10),
    ]


def _task(name: str, ref: str, **inputs) -> SimpleTask:
    task = SimpleTask(task_def_name=name, task_reference_name=ref)
    task.input_parameters.update(inputs)
    return task


def _terminate(ref: str, status: WorkflowStatus, output: str) -> TerminateTask:
    """A TERMINATE that ends the workflow with ``output`` as the workflow's output."""
    task = TerminateTask(ref, status, "")
    task.input_parameters["workflowOutput"] = output
    return task


def order_steps() -> dict[str, Any]:
    """The order workflow's steps, by reference name, in order: ``acknowledge``,
    ``replay_check``, ``notify_received``, ``pay_and_book`` (the fork) and ``payment_outcome``
    (the switch that schedules delivery, closes the order and tells the customer).

    New task objects on every call: chain them with ``>>`` into a ConductorWorkflow of your
    own to build a variant of the order workflow (a task added between two steps, say).
    """
    acknowledge = _task(
        "oms_acknowledge_order", "acknowledge", order="${workflow.input.order}", workflow_id=WORKFLOW_ID
    )
    replay = SwitchTask(task_ref_name="replay_check", case_expression="${acknowledge.output.outcome}")
    replay.switch_case(
        "REPLAY_COMPLETED", [_terminate("replay_completed", WorkflowStatus.COMPLETED, "${acknowledge.output.original}")]
    )
    replay.switch_case(
        "REPLAY_CANCELLED", [TerminateTask("replay_cancelled", WorkflowStatus.FAILED, "${acknowledge.output.reason}")]
    )
    received = _task("oms_notify", "notify_received", order_id=ORDER_ID, stage="received", workflow_id=WORKFLOW_ID)
    pay = _task("oms_process_payment", "payment", order_id=ORDER_ID, workflow_id=WORKFLOW_ID)
    stock = _task("oms_book_stock", "stock", order_id=ORDER_ID, workflow_id=WORKFLOW_ID)
    pay_and_book = ForkTask(task_ref_name="pay_and_book", forked_tasks=[[pay], [stock]], join_on=["payment", "stock"])
    check = SwitchTask(task_ref_name="payment_outcome", case_expression="${payment.output.status}")
    check.switch_case("DECLINED", [TerminateTask("payment_declined", WorkflowStatus.FAILED, "the card was declined")])
    check.default_case(
        [
            _task("oms_schedule_delivery", "delivery", order_id=ORDER_ID, workflow_id=WORKFLOW_ID),
            _task("oms_close_order", "close", order_id=ORDER_ID, workflow_id=WORKFLOW_ID, outcome=OUTCOME),
            _task("oms_notify", "notify_completed", order_id=ORDER_ID, stage="completed", workflow_id=WORKFLOW_ID),
        ]
    )
    return {
        "acknowledge": acknowledge,
        "replay_check": replay,
        "notify_received": received,
        "pay_and_book": pay_and_book,
        "payment_outcome": check,
    }


def order_workflow(executor, timeout_seconds: int = 600) -> ConductorWorkflow:
    workflow = ConductorWorkflow(
        executor=executor,
        name=ORDER_WORKFLOW,
        version=1,
        description="Order management: acknowledge, pay and book stock in parallel, schedule delivery, notify",
    )
    for step in order_steps().values():
        workflow >> step
    workflow.output_parameters({"order_id": ORDER_ID, **OUTCOME})
    workflow.failure_workflow(COMPENSATION_WORKFLOW)
    workflow.timeout_seconds(timeout_seconds)
    return workflow


def compensation_workflow(executor, timeout_seconds: int = 600) -> ConductorWorkflow:
    workflow = ConductorWorkflow(
        executor=executor,
        name=COMPENSATION_WORKFLOW,
        version=1,
        description="Undo an order that failed: cancel it, refund, release stock, cancel delivery, tell the customer",
    )
    failed = {"order_id": FAILED_ORDER_ID, "workflow_id": FAILED_WORKFLOW_ID}
    cancel = _task("oms_cancel_order", "cancel", reason="${workflow.input.reason}", **failed)
    undo = ForkTask(
        task_ref_name="undo",
        forked_tasks=[
            [_task("oms_refund_payment", "refund", **failed)],
            [_task("oms_release_stock", "release", **failed)],
            [_task("oms_cancel_delivery", "uncarry", **failed)],
        ],
        join_on=["refund", "release", "uncarry"],
    )
    told = _task("oms_notify", "notify_cancelled", stage="cancelled", reason="${workflow.input.reason}", **failed)
    cancelled = SwitchTask(task_ref_name="order_status", case_expression="${cancel.output.status}")
    # a completed order, one never acknowledged or one another workflow placed: nothing to undo
    cancelled.switch_case("CANCELLED", [undo, told])
    workflow >> cancel >> cancelled
    workflow.output_parameters(
        {
            "order_id": FAILED_ORDER_ID,
            "order": "${cancel.output.status}",
            "refund": "${refund.output.status}",
            "stock": "${release.output.status}",
        }
    )
    workflow.timeout_seconds(timeout_seconds)
    return workflow


def register(executor, metadata_client, **task_options) -> tuple[ConductorWorkflow, ConductorWorkflow]:
    """Register task definitions and both workflows (overwriting older versions)."""
    for task_def in task_defs(**task_options):
        metadata_client.register_task_def(task_def)
    order, compensation = order_workflow(executor), compensation_workflow(executor)
    compensation.register(overwrite=True)
    order.register(overwrite=True)
    return order, compensation


def definition(workflow: ConductorWorkflow) -> dict:
    """The JSON a ConductorWorkflow sends to the server (what Conductor stores)."""
    from conductor.client.http.api_client import ApiClient

    return ApiClient().sanitize_for_serialization(workflow.to_workflow_def())
