"""Version 2 of the payment service's worker: deployed on its own, beside or instead of v1.

The same task type (``oms_process_payment``), the same input, the same idempotent charge —
and one compatible addition to its output: a receipt number, and the version that served
the task. Nothing else changes, so the workflow, the other services and orders already in
flight are unaffected: that is what lets a team release its service alone
(:func:`fdelib.oms.contexts.rolling_upgrade`).
"""

from conductor.client.worker.worker_task import worker_task

from ..conductor.workers import redirect_worker_output
from . import services
from .workers import POLL_MS, THREADS, _attempt, _service

redirect_worker_output()

VERSION = 2


@worker_task(task_definition_name="oms_process_payment", poll_interval_millis=POLL_MS, thread_count=THREADS)
def process_payment(order_id: str, workflow_id: str | None = None) -> dict:
    result = _service(services.charge, order_id, attempt=_attempt(), workflow_id=workflow_id)
    return {**result, "receipt": f"RCPT-{order_id}", "service_version": VERSION}
