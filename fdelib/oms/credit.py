"""A credit check before payment: the service learners add to the order workflow.

``oms_check_credit`` reads the order the order service stored (its catalogue total) and
decides: ``APPROVED`` up to :data:`LIMIT`, ``REVIEW`` above it (a person must approve the
order before the card is charged). It changes nothing, so a retry is always safe.

    Workers(["fdelib.oms.credit"]).start()      # its worker, beside fdelib.oms.workers'
    credit.register(clients.get_metadata_client())

(No ``from __future__ import annotations`` here: conductor-python reads the worker's
annotations as types to convert each input.)
"""

from conductor.client.http.models import TaskDef
from conductor.client.worker.worker_task import worker_task

from ..conductor.workers import redirect_worker_output
from .services.common import engine_or_default, lock_order
from .workers import POLL_MS, THREADS, _service

redirect_worker_output()

TASK = "oms_check_credit"
LIMIT = 150.0  # the largest order approved without a person looking at it


def check_credit(order_id: str, workflow_id: str | None = None, engine=None) -> dict:
    """``{"decision": "APPROVED" | "REVIEW", "amount", "limit"}`` for a stored order; an order
    the order service has not stored (yet) is refused."""
    with engine_or_default(engine).begin() as conn:
        order = lock_order(conn, order_id, workflow_id=workflow_id)
    amount = float(order.amount)
    return {"decision": "APPROVED" if amount <= LIMIT else "REVIEW", "amount": amount, "limit": LIMIT}


@worker_task(task_definition_name=TASK, poll_interval_millis=POLL_MS, thread_count=THREADS)
def credit_check(order_id: str, workflow_id: str | None = None) -> dict:
    return _service(check_credit, order_id, workflow_id)


def task_def(response_timeout: int = 3) -> TaskDef:
    return TaskDef(
        name=TASK,
        retry_count=3,
        retry_logic="EXPONENTIAL_BACKOFF",
        retry_delay_seconds=1,
        response_timeout_seconds=response_timeout,
        timeout_seconds=0,
        timeout_policy="TIME_OUT_WF",
        owner_email="course@fde.example.com",
    )


def register(metadata_client, **options) -> None:
    """Tell the engine about the task type (its retries and timeouts)."""
    metadata_client.register_task_def(task_def(**options))
