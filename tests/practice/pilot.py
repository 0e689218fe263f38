"""Two pilot exercises of the kinds 00_start_here does not use: a function on test vectors
(an ISIN's check digit) and a workflow run on the engine (a SWITCH with a default case).

They live here, not in a course notebook (those are being rewritten by their authors): the
test builds a notebook from :data:`CELLS` into a temporary folder (``FDE_PILOT_NOTEBOOK``
names it, so this catalogue knows where its notebook is) and runs it through the same
machinery as every course exercise.
"""

import os

import nbformat

from fdelib.practice import Case, Catalog, Raises, WorkflowRun, Wrong

NOTEBOOK = os.environ.get("FDE_PILOT_NOTEBOOK", "/nonexistent/pilot.ipynb")
catalog = Catalog(NOTEBOOK)

ISIN_SOLUTION = '''def isin_check_digit(payload: str) -> str:
    """The check digit of an 11-character ISIN payload (Luhn over its digits)."""
    if len(payload) != 11 or not payload.isalnum():
        raise ValueError(f"an ISIN payload has 11 letters or digits, got {payload!r}")
    digits = "".join(str(int(c, 36)) for c in payload.upper())
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 == 0 else 1)
        total += value // 10 + value % 10
    return str((10 - total % 10) % 10)
'''

ISIN_FROM_THE_LEFT = """def isin_check_digit(payload: str) -> str:
    if len(payload) != 11 or not payload.isalnum():
        raise ValueError(payload)
    digits = "".join(str(int(c, 36)) for c in payload.upper())
    total = 0
    for position, digit in enumerate(digits):
        value = int(digit) * (2 if position % 2 == 0 else 1)
        total += value // 10 + value % 10
    return str((10 - total % 10) % 10)
"""

catalog.function(
    "pilot_isin_check_digit",
    name="isin_check_digit",
    cases=[
        Case(("US037833100",), "5"),
        Case(("US594918104",), "5"),
        Case(("GB000263494",), "6"),
        Case(("DE000716460",), "0"),
        Case(("US38259P508",), "9"),
        Case(("AU0000XVGZA",), "3"),
        Case(("US03783310",), Raises(ValueError)),
    ],
    blank="def isin_check_digit(payload: str) -> str:\n    ...   # your code here\n",
    blank_hint="Write the body: turn letters into numbers (A=10 ... Z=35), then apply Luhn's "
    "doubling to the digits, starting from the rightmost.",
    wrong=[
        Wrong(
            ISIN_FROM_THE_LEFT,
            "The doubling starts from the rightmost digit (the one next to the check "
            "digit), not from the leftmost: walk the digits in reverse.",
        )
    ],
    passed="Luhn over the ISIN's digits: the same rule python-stdnum's isin module applies.",
)

ROUTE_SOLUTION = """from conductor.client.workflow.conductor_workflow import ConductorWorkflow
from conductor.client.workflow.task.set_variable_task import SetVariableTask
from conductor.client.workflow.task.switch_task import SwitchTask
from conductor.client.workflow.task.terminate_task import TerminateTask, WorkflowStatus

fast = SetVariableTask("route_fast")
fast.input_parameters.update(route="fast")
book = SetVariableTask("route_book")
book.input_parameters.update(route="book")
by_kind = SwitchTask("by_kind", "${workflow.input.kind}")
by_kind.switch_case("market", [fast]).switch_case("limit", [book])
by_kind.default_case([TerminateTask("reject", WorkflowStatus.FAILED, "unknown order kind")])
routing = ConductorWorkflow(executor=executor, name="route_order", version=1)
routing >> by_kind
routing.output_parameters({"route": "${workflow.variables.route}"})
"""

ROUTE_NO_DEFAULT = """from conductor.client.workflow.conductor_workflow import ConductorWorkflow
from conductor.client.workflow.task.set_variable_task import SetVariableTask
from conductor.client.workflow.task.switch_task import SwitchTask

fast = SetVariableTask("route_fast")
fast.input_parameters.update(route="fast")
book = SetVariableTask("route_book")
book.input_parameters.update(route="book")
by_kind = SwitchTask("by_kind", "${workflow.input.kind}")
by_kind.switch_case("market", [fast]).switch_case("limit", [book])
routing = ConductorWorkflow(executor=executor, name="route_order", version=1)
routing >> by_kind
routing.output_parameters({"route": "${workflow.variables.route}"})
"""

catalog.workflow(
    "pilot_route_order",
    name="routing",
    runs=[
        WorkflowRun({"kind": "market"}, "COMPLETED", {"route": "fast"}, "a market order"),
        WorkflowRun({"kind": "limit"}, "COMPLETED", {"route": "book"}, "a limit order"),
        WorkflowRun({"kind": "stop"}, "FAILED", {}, "an order of unknown kind"),
    ],
    blank="routing = ...   # a ConductorWorkflow with a SWITCH on ${workflow.input.kind}\n",
    blank_hint="Build a ConductorWorkflow whose SWITCH on ${workflow.input.kind} sets the "
    "variable route (SET_VARIABLE) to 'fast' for market orders and 'book' for limit orders.",
    wrong=[
        Wrong(
            ROUTE_NO_DEFAULT,
            "An order of an unknown kind passes quietly: give the SWITCH a default case "
            "that TERMINATEs the workflow as FAILED.",
        )
    ],
    passed="The engine routes each kind, and refuses what it does not know instead of completing with no route.",
)


def notebook() -> nbformat.NotebookNode:
    """The pilot notebook: a lesson with its two exercises answered."""
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    params = code('as_of = "2026-01-02"')
    params.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        md("# Pilot exercises"),
        params,
        code(
            f"import sys\nsys.path.insert(0, {os.path.dirname(__file__)!r})\nimport pilot\n"
            "from fdelib import conductor\nfrom fdelib.practice import check\n"
            "executor = conductor.executor()"
        ),
        md("### Exercise `pilot_isin_check_digit`\nAn ISIN's check digit."),
        code(ISIN_SOLUTION),
        code('check("pilot_isin_check_digit")'),
        md("### Exercise `pilot_route_order`\nRoute orders by kind; refuse unknown kinds."),
        code(ROUTE_SOLUTION),
        code('check("pilot_route_order")'),
        md("## Recap\n* Functions are checked on test vectors, workflows on the engine."),
    ]
    return nb
