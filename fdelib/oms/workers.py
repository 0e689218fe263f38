"""Conductor workers for the five services: conductor-python's ``@worker_task``.

Each worker is a thin adapter: take the task's input, call the service, return its answer
as the task's output. Every task's input names its workflow (``workflow_id``), which the
services check against the workflow that placed the order. A :class:`~fdelib.oms.services.Refused`
becomes conductor-python's
``NonRetryableException`` (the task ends FAILED_WITH_TERMINAL_ERROR: no retry can help);
anything else fails the task and Conductor retries it per its task definition.

``TaskHandler(import_modules=["fdelib.oms.workers"], scan_for_annotated_workers=True)``
runs them, each in its own process, against whichever server the configuration names.
(No ``from __future__ import annotations`` here: conductor-python reads the parameters'
annotations as types to convert each input.)
"""

import os
import signal

from conductor.client.context import TaskInProgress, get_task_context
from conductor.client.worker.exception import NonRetryableException
from conductor.client.worker.worker_task import worker_task

from ..conductor.workers import redirect_worker_output
from . import services

redirect_worker_output()

POLL_MS = 10  # how often an idle worker asks for work
THREADS = 4  # tasks one worker process runs at once
WAIT_SECONDS = 1  # a replay of an order still in progress asks again after this


def _attempt() -> int:
    try:
        return get_task_context().get_retry_count() or 0
    except Exception:  # called outside a worker (a test calling the function directly)
        return 0


def _service(call, *args, **kwargs) -> dict:
    try:
        return call(*args, **kwargs)
    except services.Refused as exc:
        raise NonRetryableException(str(exc)) from exc


@worker_task(task_definition_name="oms_acknowledge_order", poll_interval_millis=POLL_MS, thread_count=THREADS)
def acknowledge_order(order: object, workflow_id: str | None = None) -> dict:
    answer = _service(services.acknowledge, order, workflow_id)
    if answer["outcome"] == "IN_PROGRESS":
        # a replay while the first workflow still runs: stay IN_PROGRESS, Conductor asks again
        return TaskInProgress(callback_after_seconds=WAIT_SECONDS, output=answer)
    return answer


@worker_task(task_definition_name="oms_process_payment", poll_interval_millis=POLL_MS, thread_count=THREADS)
def process_payment(order_id: str, workflow_id: str | None = None) -> dict:
    if services.fire_once(order_id, "payment_crash_before_charge"):
        # the worker dies holding the task before it calls the payment service: nothing is charged
        os.kill(os.getpid(), signal.SIGKILL)
    result = _service(services.charge, order_id, attempt=_attempt(), workflow_id=workflow_id)
    if services.fire_once(order_id, "payment_worker_crash"):
        # the card is charged and committed; the worker dies before telling Conductor
        os.kill(os.getpid(), signal.SIGKILL)
    return result


@worker_task(task_definition_name="oms_book_stock", poll_interval_millis=POLL_MS, thread_count=THREADS)
def book_stock(order_id: str, workflow_id: str | None = None) -> dict:
    return _service(services.book_stock, order_id, workflow_id)


@worker_task(task_definition_name="oms_schedule_delivery", poll_interval_millis=POLL_MS, thread_count=THREADS)
def schedule_delivery(order_id: str, workflow_id: str | None = None) -> dict:
    return _service(services.schedule_delivery, order_id, workflow_id)


@worker_task(task_definition_name="oms_close_order", poll_interval_millis=POLL_MS, thread_count=THREADS)
def close_order(order_id: str, workflow_id: str | None = None, outcome: object = None) -> dict:
    return _service(services.close, order_id, workflow_id, outcome)


@worker_task(task_definition_name="oms_notify", poll_interval_millis=POLL_MS, thread_count=THREADS)
def notify(order_id: str, stage: str, reason: str | None = None, workflow_id: str | None = None) -> dict:
    return _service(services.notify, order_id, stage, reason, workflow_id)


# --- compensations --------------------------------------------------------------------


@worker_task(task_definition_name="oms_cancel_order", poll_interval_millis=POLL_MS, thread_count=THREADS)
def cancel_order(order_id: str, reason: str | None = None, workflow_id: str | None = None) -> dict:
    return _service(services.cancel, order_id, reason, workflow_id)


@worker_task(task_definition_name="oms_refund_payment", poll_interval_millis=POLL_MS, thread_count=THREADS)
def refund_payment(order_id: str, workflow_id: str | None = None) -> dict:
    return _service(services.refund, order_id, workflow_id)


@worker_task(task_definition_name="oms_release_stock", poll_interval_millis=POLL_MS, thread_count=THREADS)
def release_stock(order_id: str, workflow_id: str | None = None) -> dict:
    return _service(services.release_stock, order_id, workflow_id)


@worker_task(task_definition_name="oms_cancel_delivery", poll_interval_millis=POLL_MS, thread_count=THREADS)
def cancel_delivery(order_id: str, workflow_id: str | None = None) -> dict:
    return _service(services.cancel_delivery, order_id, workflow_id)
