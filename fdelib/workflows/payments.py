"""WOSA: one card payment as a structured workflow, run on a Conductor engine.

**Workflow-oriented software architecture (WOSA)** builds an application as explicit workflows:
each business transaction is a definition — named steps, the order and the conditions between
them, what each step receives and returns — that an engine executes and records, while each step
is a small service that knows nothing of the others. A card payment is the textbook case:

    validate_card ─► score_risk ─► route ─┬─ "approve" ─► authorize ─► capture
                                          └─ otherwise ─► decline

* ``validate_card`` — the card number's Luhn check digit (python-stdnum) and its expiry against
  the notebook's clock; a bad card is a terminal error (``NonRetryableException``: retrying a
  typo cannot help), so the workflow fails at once, with the reason;
* ``score_risk`` — the issuer's rules: over the card's available credit, or a large amount on a
  card from another country than the merchant's, is declined;
* ``route`` — a SWITCH on the decision: the engine, not the services, decides what runs next;
* ``authorize`` — the issuer's approval: a hold on the amount and an authorisation code;
* ``capture`` — the merchant claims the authorised amount; it settles the next business day;
* ``decline`` — the answer the merchant shows the customer;
* ``notify_cardholder`` — a text message to the cardholder: a service with no step in the
  definition yet (a new step is a new service plus a change to the definition, nothing else).

Every step is deterministic (the authorisation code is a hash of the payment id), so a lesson's
output is the same on every run. (No ``from __future__ import annotations``: conductor-python
reads the workers' annotations as types.)
"""

import hashlib

import pandas as pd
from conductor.client.http.models import TaskDef
from conductor.client.worker.exception import NonRetryableException
from conductor.client.workflow.conductor_workflow import ConductorWorkflow
from conductor.client.workflow.task.simple_task import SimpleTask
from conductor.client.workflow.task.switch_task import SwitchTask

WORKFLOW = "card_payment"
MERCHANT_COUNTRY = "US"
#: the issuer's rule for cross-border payments: above this amount (USD) they are declined
CROSS_BORDER_LIMIT = 1_000


def validate_card(payment_id: str, card_number: str, expiry: str, as_of: str) -> dict:
    """The card number's check digit and the expiry month (``YYYY-MM``) against ``as_of``."""
    from stdnum import luhn

    digits = "".join(ch for ch in str(card_number) if ch.isdigit())
    if len(digits) < 12 or not luhn.is_valid(digits):
        raise NonRetryableException(f"{payment_id}: card number {mask(digits)} fails its Luhn check digit")
    if str(expiry) < str(as_of)[:7]:
        raise NonRetryableException(f"{payment_id}: card expired {expiry}")
    return {"card": mask(digits)}


def score_risk(payment_id: str, amount: float, available_credit: float, card_country: str) -> dict:
    """The issuer's decision: ``approve`` or ``decline``, with the reason."""
    if amount > available_credit:
        return {"decision": "decline", "reason": f"amount {amount:,.2f} exceeds available credit"}
    if card_country != MERCHANT_COUNTRY and amount > CROSS_BORDER_LIMIT:
        return {"decision": "decline", "reason": f"cross-border amount above {CROSS_BORDER_LIMIT:,} USD"}
    return {"decision": "approve", "reason": "within limits"}


def authorize(payment_id: str, amount: float) -> dict:
    """A hold on ``amount`` and an authorisation code (six characters, from the payment id)."""
    code = hashlib.sha256(payment_id.encode()).hexdigest()[:6].upper()
    return {"auth_code": code, "held": round(float(amount), 2)}


def capture(payment_id: str, amount: float, auth_code: str, as_of: str) -> dict:
    """The merchant captures the authorised amount; it settles on the next NYSE business day
    (a stand-in for the card scheme's settlement calendar)."""
    from ..calendars import settlement_date

    return {"captured": round(float(amount), 2), "auth_code": auth_code, "settles_on": settlement_date(as_of)}


def decline(payment_id: str, reason: str) -> dict:
    return {"message": f"payment {payment_id} declined: {reason}"}


#: task type -> the function its worker runs
WORKERS = {
    "pay_validate_card": validate_card,
    "pay_score_risk": score_risk,
    "pay_authorize": authorize,
    "pay_capture": capture,
    "pay_decline": decline,
}


def mask(digits: str) -> str:
    """A card number as receipts print it: first six and last four digits."""
    return f"{digits[:6]}{'*' * max(0, len(digits) - 10)}{digits[-4:]}" if len(digits) > 10 else "*" * len(digits)


def _task(task_type: str, ref: str, **inputs) -> SimpleTask:
    task = SimpleTask(task_type, ref)
    task.input_parameters.update(inputs)
    return task


def notify_cardholder(payment_id: str, amount: float, card: str, auth_code: str) -> dict:
    """The text message the issuer sends the cardholder (a service no lesson workflow uses yet:
    lesson 1's exercise adds it as a step)."""
    return {"sms": f"Card ending {str(card)[-4:]}: {float(amount):,.2f} USD paid, auth {auth_code}"}


WORKERS["pay_notify_cardholder"] = notify_cardholder


def definition(executor) -> ConductorWorkflow:
    """The card payment as a Conductor workflow (conductor-python's DSL)."""
    payment = "${workflow.input.payment_id}"
    amount = "${workflow.input.amount}"
    workflow = ConductorWorkflow(
        executor=executor,
        name=WORKFLOW,
        version=1,
        description="One card payment: validate, score, then authorize and capture, or decline",
    )
    validate = _task(
        "pay_validate_card",
        "validate_card",
        payment_id=payment,
        card_number="${workflow.input.card_number}",
        expiry="${workflow.input.expiry}",
        as_of="${workflow.input.as_of}",
    )
    risk = _task(
        "pay_score_risk",
        "score_risk",
        payment_id=payment,
        amount=amount,
        available_credit="${workflow.input.available_credit}",
        card_country="${workflow.input.card_country}",
    )
    route = SwitchTask("route", case_expression="${score_risk.output.decision}")
    route.switch_case(
        "approve",
        [
            _task("pay_authorize", "authorize", payment_id=payment, amount=amount),
            _task(
                "pay_capture",
                "capture",
                payment_id=payment,
                amount=amount,
                auth_code="${authorize.output.auth_code}",
                as_of="${workflow.input.as_of}",
            ),
        ],
    )
    route.default_case([_task("pay_decline", "decline", payment_id=payment, reason="${score_risk.output.reason}")])
    workflow >> validate >> risk >> route
    workflow.output_parameters(
        {
            "decision": "${score_risk.output.decision}",
            "auth_code": "${capture.output.auth_code}",
            "settles_on": "${capture.output.settles_on}",
            "message": "${decline.output.message}",
        }
    )
    workflow.timeout_seconds(120)
    return workflow


def register(executor, metadata_client) -> ConductorWorkflow:
    """Register the five task types (no retries for a card check: a typo stays a typo; the others
    retry twice) and the workflow."""
    for name in WORKERS:
        metadata_client.register_task_def(
            TaskDef(
                name=name,
                retry_count=0 if name == "pay_validate_card" else 2,
                retry_logic="FIXED",
                retry_delay_seconds=1,
                response_timeout_seconds=30,
                timeout_seconds=0,
                owner_email="course@fde.example.com",
            )
        )
    workflow = definition(executor)
    workflow.register(overwrite=True)
    return workflow


def examples(amount: float, as_of: str) -> list[dict]:
    """Three payments at a US merchant: a domestic one of ``amount``, a large one on a foreign
    card, and one whose card number was mistyped (its last digit)."""
    year = int(as_of[:4]) + 2
    base = {"expiry": f"{year}-06", "as_of": as_of, "available_credit": 5_000}
    return [
        {**base, "payment_id": "PAY-1", "card_number": "4111111111111111", "amount": amount, "card_country": "US"},
        {**base, "payment_id": "PAY-2", "card_number": "5555555555554444", "amount": 2_400.0, "card_country": "FR"},
        {**base, "payment_id": "PAY-3", "card_number": "4111111111111112", "amount": 60.0, "card_country": "US"},
    ]


def run(workflow_client, payments: list[dict], timeout: float = 60) -> pd.DataFrame:
    """Start one workflow per payment (all at once), wait for each; one row per payment: its
    status, the path the engine took (the tasks that ran, in order) and the outcome."""
    from conductor.client.http.models import StartWorkflowRequest

    from ..conductor import history

    ids = [workflow_client.start_workflow(StartWorkflowRequest(name=WORKFLOW, version=1, input=p)) for p in payments]
    rows = []
    for payment, workflow_id in zip(payments, ids, strict=False):
        done = history.wait(workflow_client, workflow_id, timeout=timeout)
        ran = [t for t in history.tasks(done).itertuples() if t.type not in ("SWITCH",)]
        out = done.output or {}
        failed = [t.reason for t in ran if t.reason]
        outcome = (
            f"captured, auth {out.get('auth_code')}, settles {out.get('settles_on')}"
            if out.get("auth_code")
            else out.get("message") or (failed[-1] if failed else "")
        )
        rows.append(
            {
                "payment": payment["payment_id"],
                "amount": payment["amount"],
                "card": f"{payment['card_country']} {mask(payment['card_number'])}",
                "status": done.status,
                "path": " → ".join(t.ref for t in ran),
                "outcome": outcome.removeprefix(f"{payment['payment_id']}: "),
            }
        )
    return pd.DataFrame(rows).set_index("payment")


def stored_definition(metadata_client) -> dict:
    """The workflow definition as the engine stores it (JSON): what ``history.draw_definition`` draws."""
    from conductor.client.http.api_client import ApiClient

    return ApiClient().sanitize_for_serialization(metadata_client.get_workflow_def(WORKFLOW, 1))
