"""01_workflows/01_workflow_dags: a DAG's parallel levels, the tasks of a cycle, a step added to
the card payment workflow (run on the engine), and concept checks on WOSA."""

import hashlib

from fdelib.practice import Catalog, WorkflowRun, Wrong

catalog = Catalog("01_workflows/01_workflow_dags.ipynb")

# --- a DAG's parallel levels -------------------------------------------------------------

EOD = """from fdelib.workflows import DAG


def nothing(ctx):          # what each task does does not matter here, only what it waits for
    return None


eod = DAG("end-of-day valuation")
for task, after in {"load_trades": [], "fetch_prices": [], "fetch_fx": [],
                    "positions": ["load_trades"], "clean_prices": ["fetch_prices"],
                    "value": ["positions", "clean_prices", "fetch_fx"],
                    "pnl": ["value"], "risk": ["value"], "report": ["pnl", "risk"]}.items():
    eod.task(task, nothing, after=after)
eod_levels = eod.levels()
eod_levels
"""


def levels_as_sets(levels):
    """A level is a set of tasks that can run at once: the order within one does not count."""
    if isinstance(levels, (list, tuple)) and all(isinstance(level, (list, tuple, set)) for level in levels):
        return [sorted(map(str, level)) for level in levels]
    return levels


catalog.value(
    "eod_levels",
    name="eod_levels",
    key=levels_as_sets,
    answer=[
        ["fetch_fx", "fetch_prices", "load_trades"],
        ["clean_prices", "positions"],
        ["value"],
        ["pnl", "risk"],
        ["report"],
    ],
    blank_hint="Build the DAG with fdelib.workflows.DAG: one dag.task(name, function, after=[...]) per "
    "task of the description (the function can do nothing), then eod_levels = eod.levels().",
    wrong=[
        Wrong(
            EOD.replace('"risk": ["value"]', '"risk": ["pnl"]'),
            "risk waits for pnl in your DAG, but the description says both only need value: "
            "P&L and risk can run at the same time, in one level. Draw an arrow only where a task "
            "reads another's result.",
        ),
        Wrong(
            EOD.replace("eod_levels = eod.levels()", "eod_levels = eod.order()"),
            "That is one execution order, a flat list. The levels group the tasks that can run at "
            "the same time: eod.levels().",
        ),
    ],
    passed="Nine tasks, five levels: the three loads start together, then positions and price "
    "cleaning, then valuation, then P&L and risk side by side, then the report. An engine needs "
    "five steps of time, not nine.",
)

# --- the tasks of a cycle ----------------------------------------------------------------

SETTLEMENT = """import networkx as nx

from fdelib.workflows import DAG, CycleError


def nothing(ctx):
    return None


settlement = DAG("trade settlement")
for task, after in {"capture_trades": [], "enrich_ssi": ["capture_trades"],
                    "confirm": ["enrich_ssi", "reconcile_cash"], "instruct_custodian": ["confirm"],
                    "post_ledger": ["instruct_custodian"], "reconcile_cash": ["post_ledger"],
                    "report": ["post_ledger"]}.items():
    settlement.task(task, nothing, after=after)
try:
    settlement.check()
except CycleError as error:
    print(error)
in_cycle = {upstream for upstream, downstream in nx.find_cycle(settlement.graph())}
in_cycle
"""

catalog.value(
    "settlement_cycle",
    name="in_cycle",
    answer={"confirm", "instruct_custodian", "post_ledger", "reconcile_cash"},
    blank_hint="Build the settlement DAG from the description and call settlement.check(): the "
    "CycleError names the loop. Answer with the set of task names on it, e.g. "
    'in_cycle = {"a", "b"}.',
    wrong=[
        Wrong(
            "in_cycle = {'confirm', 'instruct_custodian', 'post_ledger', 'reconcile_cash', 'report'}\n",
            "report can never run either, but it is blocked by the loop, not part of it: nothing "
            "on the loop waits for report. Follow the arrows from confirm until you are back at it.",
        ),
        Wrong(
            "in_cycle = {'capture_trades', 'enrich_ssi', 'confirm', 'instruct_custodian', "
            "'post_ledger', 'reconcile_cash', 'report'}\n",
            "That is every task. capture_trades and enrich_ssi can run (nothing they wait for is on "
            "the loop) and report is only blocked by it: the cycle is the tasks you meet again when "
            "you follow the arrows.",
        ),
    ],
    passed="confirm waits for reconcile_cash, which waits (through post_ledger and "
    "instruct_custodian) for confirm: four tasks, no order. The fix is to cut one arrow — "
    "reconcile against the previous day's ledger, as the lesson's fetch should read "
    "yesterday's load from storage instead of waiting for it.",
)

# --- a step added to the card payment workflow --------------------------------------------

ALERT = """from conductor.client.workflow.conductor_workflow import ConductorWorkflow
from conductor.client.workflow.task.simple_task import SimpleTask
from conductor.client.workflow.task.switch_task import SwitchTask


def step(task_type, ref, **inputs):
    task = SimpleTask(task_type, ref)
    task.input_parameters.update(inputs)
    return task


payment, amount = "${workflow.input.payment_id}", "${workflow.input.amount}"
validate = step("pay_validate_card", "validate_card", payment_id=payment, card_number="${workflow.input.card_number}",
                expiry="${workflow.input.expiry}", as_of="${workflow.input.as_of}")
risk = step("pay_score_risk", "score_risk", payment_id=payment, amount=amount,
            available_credit="${workflow.input.available_credit}", card_country="${workflow.input.card_country}")
route = SwitchTask("route", case_expression="${score_risk.output.decision}")
route.switch_case("approve", [
    step("pay_authorize", "authorize", payment_id=payment, amount=amount),
    step("pay_capture", "capture", payment_id=payment, amount=amount, auth_code="${authorize.output.auth_code}",
         as_of="${workflow.input.as_of}"),
    step("pay_notify_cardholder", "notify", payment_id=payment, amount=amount,
         card="${validate_card.output.card}", auth_code="${capture.output.auth_code}")])
route.default_case([step("pay_decline", "decline", payment_id=payment, reason="${score_risk.output.reason}")])
card_alert = ConductorWorkflow(executor=executor, name="card_payment_alert", version=1)
card_alert >> validate >> risk >> route
card_alert.output_parameters({"decision": "${score_risk.output.decision}", "auth_code": "${capture.output.auth_code}",
                              "message": "${decline.output.message}", "sms": "${notify.output.sms}"})
approve = card_alert.to_workflow_def().tasks[2].decision_cases["approve"]
[task.task_reference_name for task in approve]   # the approve case, as the engine will receive it
"""

_NOTIFY = """    step("pay_notify_cardholder", "notify", payment_id=payment, amount=amount,
         card="${validate_card.output.card}", auth_code="${capture.output.auth_code}")"""
_CAPTURE_END = """as_of="${workflow.input.as_of}"),
"""
# the step after the SWITCH (every payment is texted, declined ones too)
ALERT_AFTER_SWITCH = ALERT.replace(_CAPTURE_END + _NOTIFY + "])", _CAPTURE_END.rstrip(",\n") + "])").replace(
    "card_alert >> validate >> risk >> route", "card_alert >> validate >> risk >> route >> " + _NOTIFY.strip()
)
# the step in the default case (the decline path)
ALERT_IN_DEFAULT = ALERT.replace(_CAPTURE_END + _NOTIFY + "])", _CAPTURE_END.rstrip(",\n") + "])").replace(
    'reason="${score_risk.output.reason}")])', 'reason="${score_risk.output.reason}"),\n' + _NOTIFY + "])"
)

_PAYMENT = {"expiry": "2028-06", "as_of": "2026-01-02", "available_credit": 5_000}


def _auth(payment_id: str) -> str:
    return hashlib.sha256(payment_id.encode()).hexdigest()[:6].upper()


catalog.workflow(
    "card_payment_alert",
    name="card_alert",
    runs=[
        WorkflowRun(
            {
                **_PAYMENT,
                "payment_id": "PAY-10",
                "card_number": "4111111111111111",
                "amount": 250.0,
                "card_country": "US",
            },
            "COMPLETED",
            {
                "decision": "approve",
                "auth_code": _auth("PAY-10"),
                "sms": f"Card ending 1111: 250.00 USD paid, auth {_auth('PAY-10')}",
            },
            "an approved payment of 250 USD",
            # the notification gets the masked number only, and only once the money is captured
            receives={"notify": {"card": "411111******1111"}},
            after=(("capture", "notify"),),
        ),
        WorkflowRun(
            {
                **_PAYMENT,
                "payment_id": "PAY-11",
                "card_number": "5555555555554444",
                "amount": 2_400.0,
                "card_country": "FR",
            },
            "COMPLETED",
            {"decision": "decline", "auth_code": None, "sms": None},
            "a declined cross-border payment",
            receives={"notify": None},
        ),
        WorkflowRun(
            {
                **_PAYMENT,
                "payment_id": "PAY-12",
                "card_number": "4111111111111112",
                "amount": 40.0,
                "card_country": "US",
            },
            "FAILED",
            {},
            "a mistyped card number (it fails its check digit)",
            receives={"notify": None},
        ),
    ],
    blank="card_alert = ...   # a ConductorWorkflow: the card payment, plus a step notify after capture\n",
    blank_hint="Start from payments.definition's source (shown above): the same steps, a ConductorWorkflow "
    "named card_payment_alert, plus a SimpleTask of type pay_notify_cardholder (reference name "
    'notify) in the approve case, after capture; add "sms": "${notify.output.sms}" to the '
    "output parameters.",
    wrong=[
        Wrong(
            ALERT_AFTER_SWITCH,
            'The declined payment got a text too ("... paid, auth None"): a step after the SWITCH runs '
            "whichever case was taken. Put notify inside the approve case, after capture.",
        ),
        Wrong(
            ALERT_IN_DEFAULT,
            "Your text goes to the declined payment and not to the approved one: the default case is the "
            'decline path. Put notify in switch_case("approve", [...]), after capture.',
        ),
    ],
    passed="The engine texts the cardholder after every captured payment and never after a declined one: "
    "a new step is a new service plus a change to the definition — no other service changed.",
)

# --- concept checks --------------------------------------------------------------------

catalog.choice(
    "concept_wosa_decides",
    name="answer_wosa",
    options={
        "A": "the score_risk service, which calls the decline service",
        "B": "the workflow definition's SWITCH, executed by the engine",
        "C": "the capture service, which checks the decision before capturing",
        "D": "the merchant's till, which reads the risk score",
    },
    correct="B",
    hints={
        "A": "score_risk only returns a decision; it knows nothing of the other services. In WOSA no "
        "step calls another.",
        "C": "capture never sees a declined payment: it is not scheduled at all. The order and the "
        "conditions between steps are not in the services.",
        "D": "The till only sees the workflow's result. Where is the decision between the steps written down?",
    },
    blank_hint="Look again at the card payment's definition (and its drawing): which part chooses between "
    "authorize/capture and decline?",
    passed="In WOSA the process lives in the definition, which the engine executes and records: the "
    "services stay small and independent, and changing the process is changing the definition.",
)

catalog.choice(
    "concept_card_orchestration",
    name="answer_coordination",
    options={
        "A": "orchestration: one definition, executed by an engine, tells each service when to act",
        "B": "choreography: each service reacts to events the others publish, with no central definition",
    },
    correct="A",
    hints={
        "B": "No service of the card payment listens to another: the engine schedules each step from "
        "the definition it stores. Choreography (lesson 5's sagas) has no such conductor."
    },
    blank_hint="Who decides what runs after score_risk: a central definition, or the services themselves "
    "reacting to each other's events?",
    passed="A central conductor that holds the process and records every run: orchestration. Lesson 5 "
    "builds the same saga both ways and compares them.",
)
