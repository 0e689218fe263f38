"""The parameters learners change are safe: checked at the top of each notebook, and all used.

* :mod:`fdelib.params` — the rules and their messages (unit tests);
* every notebook listed in ``CASES`` checks every parameter it declares (one ``params.check`` call
  right after the ``parameters`` cell), and uses each of them in a later cell;
* each listed notebook runs to the end with a non-default parameter set, the way ``fde run -p``
  runs it (papermill, in its own process);
* each listed bad value stops the notebook at its check, with a message naming the parameter and
  what it accepts — tested by running the notebook's own first cells with the bad value injected
  (what papermill does, without a kernel), and once end to end through ``fde run``.

To cover another folder's notebooks, add a :class:`Case` per notebook to ``CASES``.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import re
from pathlib import Path

import nbformat
import pytest

from fdelib import params
from fdelib.errors import ParameterError

ROOT = Path(__file__).resolve().parents[1] / "notebooks"


@dataclasses.dataclass(frozen=True)
class Case:
    notebook: str  # relative to notebooks/, without .ipynb
    good: dict  # a non-default parameter set the notebook must complete with
    bad: dict = dataclasses.field(default_factory=dict)  # name -> (bad value, words the message must hold)

    @property
    def path(self) -> Path:
        return ROOT / f"{self.notebook}.ipynb"


CASES = [
    Case(
        "00_start_here",
        good={"seed": 7, "as_of": "2025-12-31", "days": 10},
        bad={
            "days": (1, "days = 1: out of range; allowed: a whole number from 2 to 250 (a return needs two sessions)"),
            "as_of": ("yesterday", "as_of = 'yesterday': not a date"),
        },
    ),
    Case(
        "01_workflows/01_workflow_dags",
        good={"seed": 7, "as_of": "2025-06-30", "days": 3, "payment_amount": 6_000},
        bad={
            "days": (1, "days = 1: out of range; allowed: a whole number from 2 to 250"),
            "as_of": ("2026-13-01", "as_of = '2026-13-01': not a date"),
            "payment_amount": ("a lot", "payment_amount = 'a lot': not a number"),
        },
    ),
    Case(
        "01_workflows/02_workflow_management",
        good={
            "seed": 5,
            "as_of": "2025-12-31",
            "days": 3,
            "flaky_equities": 0,
            "markets": ["etfs"],
            "workers_per_type": [1, 2],
        },
        bad={
            "flaky_equities": (4, "flaky_equities = 4: out of range; allowed: a whole number from 0 to 3"),
            "markets": (["equity"], "item 0 ('equity') is not allowed (did you mean 'equities'?)"),
            "workers_per_type": ([1], "workers_per_type = [1]: 1 items; allowed: a list of 2 to 4"),
        },
    ),
    Case(
        "01_workflows/03_coordination_patterns",
        good={"seed": 3, "as_of": "2025-12-31", "latency_ms": 10, "capacity": 4, "loads": [1, 4, 8]},
        bad={"loads": (8, "loads = 8: not a list"), "capacity": (0, "capacity = 0: out of range")},
    ),
    Case(
        "01_workflows/04_batch_stream_lambda_kappa",
        good={
            "seed": 9,
            "as_of": "2025-12-31",
            "minutes": 4,
            "late_share": 0.3,
            "watermark_delay": 2,
            "allowed_lateness": 1,
        },
        bad={
            "minutes": (2, "minutes = 2: out of range; allowed: a whole number from 3 to 60 (the story needs"),
            "late_share": (1.5, "late_share = 1.5: out of range; allowed: a number from 0 to 0.9"),
        },
    ),
    Case(
        "01_workflows/05_sagas",
        good={"as_of": "2025-12-31", "price": 40, "quantity": 30, "fail_at": "None"},
        bad={
            "fail_at": (
                "book_trades",
                "fail_at = 'book_trades': not allowed (did you mean 'book_trade'?); "
                "allowed: one of reserve_cash, reserve_securities, book_trade, settle "
                "or None",
            ),
            "price": (49.5, "price = 49.5: not a whole number"),
        },
    ),
    Case(
        "01_workflows/06_ml_workflow",
        good={"seed": 7, "as_of": "2025-06-30", "months": 13, "faults": ["stale", "duplicate"]},
        bad={
            "months": (6, "months = 6: out of range; allowed: a whole number from 13 to 60 (the quality gate"),
            "faults": (["gaps"], "item 0 ('gaps') is not allowed (did you mean 'gap'?)"),
        },
    ),
    Case(
        "02_bank_db/03_constraints",
        good={"seed": 7, "as_of": "2025-06-30", "customers": 150},
        bad={
            "customers": (50, "customers = 50: out of range; allowed: a whole number from 100 to 20000"),
            "as_of": ("2026-02-30", "as_of = '2026-02-30': not a date"),
        },
    ),
    Case(
        "02_bank_db/04_concurrency",
        good={
            "seed": 3,
            "as_of": "2025-12-31",
            "customers": 200,
            "workers": 4,
            "transfers": 300,
            "hot_accounts": 10,
            "hostile": 0.1,
        },
        bad={
            "workers": (1, "workers = 1: out of range; allowed: a whole number from 2 to 32 (a race needs two"),
            "hostile": (1.5, "hostile = 1.5: out of range; allowed: a number from 0 to 1"),
            "hot_accounts": ("40", "hot_accounts = '40': not a whole number"),
        },
    ),
    # symbol=MSFT is not in symbols: the notebook loads it first and the explorer offers it too
    Case(
        "03_etl/01_market_data_etl",
        good={
            "seed": 3,
            "as_of": "2025-12-15",
            "symbols": ["GLOBX"],
            "month": "2025-10",
            "interval": "15min",
            "symbol": "MSFT",
            "faulty": "UMBRELLA",
            "faults": ["duplicates", "missing"],
        },
        bad={
            "interval": ("5m", "interval = '5m': not allowed (did you mean '5min'?)"),
            "month": ("2026-01", "month = '2026-01': not over by as_of = '2026-01-02'"),
            "faults": (["malformed"], "item 0 ('malformed') is not allowed"),
            "faulty": ("ACME", "faulty = 'ACME': it is also loaded without faults"),
            "symbols": ("ACME", "symbols = 'ACME': not a list"),
        },
    ),
    # runs Mage (`mage run`) twice: about a minute more than the other cases
    Case(
        "03_etl/02_etl_on_mage",
        good={"seed": 3, "as_of": "2025-12-15", "symbol": "GLOBX", "month": "2025-10", "interval": "15min"},
        bad={
            "month": ("2025-13", "month = '2025-13': not a month"),
            "symbol": ("acme", "symbol = 'acme': not a ticker"),
        },
    ),
    Case(
        "05_refdata/01_security_master",
        good={"seed": 7, "as_of": "2025-11-03", "later": "2025-12-01", "lookup": "ATLAUS9M"},
        bad={
            "later": ("2026-01-02", "later = '2026-01-02': not after as_of = '2026-01-02'"),
            "lookup": ("US0378331006", "lookup = 'US0378331006': not a valid LEI, ISIN, FIGI, BIC or PermID"),
        },
    ),
    Case(
        "02_bank_db/01_model",
        good={"seed": 7, "as_of": "2025-06-30", "customers": 40},
        bad={
            "customers": (5, "customers = 5: out of range; allowed: a whole number from 10 to 10000"),
            "as_of": ("2026-02-30", "as_of = '2026-02-30': not a date"),
        },
    ),
    Case(
        "02_bank_db/02_populate_query",
        good={"seed": 3, "as_of": "2025-09-15", "customers": 300, "weeks": 6, "operations": 40},
        bad={
            "weeks": (0, "weeks = 0: out of range; allowed: a whole number from 1 to 104"),
            "operations": (2.5, "operations = 2.5: not a whole number"),
        },
    ),
    Case(
        "04_oms/01_order_workflow",
        good={"seed": 7, "as_of": "2025-12-31", "orders": 3, "stock": 50},
        bad={
            "orders": (1, "orders = 1: out of range; allowed: a whole number from 2 to 100"),
            "as_of": ("2026-02-30", "as_of = '2026-02-30': not a date"),
        },
    ),
    Case(
        "04_oms/02_saga_compensation",
        good={"seed": 7, "as_of": "2025-12-31", "fault": "stock_out", "response_timeout": 3},
        bad={
            "fault": (
                "stock_outs",
                "fault = 'stock_outs': not allowed (did you mean 'stock_out'?); "
                "allowed: one of none, payment_declined, stock_out",
            ),
            "response_timeout": (0, "response_timeout = 0: out of range; allowed: a whole number from 1 to 60"),
        },
    ),
    Case(
        "04_oms/03_microservices",
        good={"seed": 7, "as_of": "2025-12-31", "orders": 4, "stock": 50},
        bad={
            "orders": (2.5, "orders = 2.5: not a whole number"),
            "stock": (-1, "stock = -1: out of range; allowed: a whole number from 0 to 1000000"),
        },
    ),
]
IDS = [case.notebook for case in CASES]


# --- the rules ----------------------------------------------------------------------------------


def test_check_normalises_values_in_place():
    namespace = {"fail_at": "None", "as_of": dt.date(2026, 1, 2), "days": 5.0, "markets": ("etfs",)}
    params.check(
        namespace,
        {
            "fail_at": params.Choice(("settle",), optional=True),
            "as_of": params.Date(),
            "days": params.Integer(1, 9),
            "markets": params.ListOf(params.Choice(("etfs",))),
        },
    )
    assert namespace == {"fail_at": None, "as_of": "2026-01-02", "days": 5, "markets": ["etfs"]}


def test_check_names_every_bad_parameter_with_what_is_allowed():
    rules = {
        "seed": params.Integer(0),
        "as_of": params.Date(),
        "rate": params.Number(0, 1),
        "step": params.Choice(("book_trade", "settle")),
        "missing": params.Integer(),
    }
    with pytest.raises(ParameterError) as caught:
        params.check({"seed": -1, "as_of": "02/01/2026", "rate": float("nan"), "step": "setle"}, rules)
    lines = str(caught.value).splitlines()
    assert lines[0] == "bad notebook parameters:"
    assert lines[1:] == [
        "  seed = -1: out of range; allowed: a whole number of at least 0",
        f"  as_of = '02/01/2026': not a date; allowed: a date written YYYY-MM-DD from "
        f"{params.COURSE_DATES[0]} to {params.COURSE_DATES[1]}",
        "  rate = nan: not a number; allowed: a number from 0 to 1",
        "  step = 'setle': not allowed (did you mean 'settle'?); allowed: one of book_trade or settle",
        "  missing is not defined: declare it in the parameters cell; allowed: a whole number",
    ]


@pytest.mark.parametrize(
    "rule,value,problem",
    [
        (params.Integer(1, 5), True, "not a whole number"),  # a bool is not a count
        (params.Integer(1, 5), "3", "not a whole number"),  # nor is text: the YAML value was quoted
        (params.Integer(1, 5), 2.5, "not a whole number"),
        (params.Number(), "1e3", "not a number"),
        (params.Date(), "2026-1-2", "not a date"),  # ISO only: no guessing the order
        (params.Date(), "2030-01-01", "out of range"),
        (params.Choice(("a", "b")), None, "missing (None)"),  # None only where the rule allows it
        (params.Choice(("a", "b")), ["a"], "a list, not one value"),
        (params.ListOf(params.Integer(1, 9), min_items=1), [], "0 items"),
        (params.ListOf(params.Integer(1, 9)), [1, 1], "an item is repeated"),
        (params.ListOf(params.Integer(1, 9)), "1, 2", "not a list"),
    ],
)
def test_rules_refuse_what_they_should(rule, value, problem):
    with pytest.raises(params.Invalid) as caught:
        rule(value)
    assert str(caught.value).startswith(problem)


def test_a_bool_is_not_a_number_and_a_list_may_repeat_when_allowed():
    assert params.ListOf(params.Integer(), unique=False)([2, 2]) == [2, 2]
    assert params.Number(0, 1)(1) == 1 and params.Date(optional=True)("null") is None


# --- every notebook checks and uses what it declares --------------------------------------------


def _code_cells(path: Path) -> tuple[list[str], int]:
    """The notebook's code cells, and the index of the ``parameters`` cell among them."""
    code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    at = next(i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", []))
    return [c.source for c in code], at


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_every_declared_parameter_is_checked_and_used(case):
    import papermill

    declared = set(papermill.inspect_notebook(str(case.path)))
    cells, at = _code_cells(case.path)
    check_cell = cells[at + 1]
    assert "params.check(globals()," in check_cell, "the cell after the parameters cell checks them"
    namespace = _run_cells(cells, at, {})  # the defaults pass their own check
    spec = _spec(check_cell, namespace)
    assert set(spec) == declared, "the check covers exactly the declared parameters"
    later = "\n".join(_without_magics(cell) for cell in cells[at + 2 :])
    used = {
        node.id for node in ast.walk(ast.parse(later)) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
    }
    assert declared <= used, f"declared but never used: {sorted(declared - used)}"


@pytest.mark.parametrize(
    "case,name", [(c, n) for c in CASES for n in c.bad], ids=[f"{c.notebook}:{n}" for c in CASES for n in c.bad]
)
def test_a_bad_value_stops_the_notebook_at_its_check_with_the_allowed_values(case, name):
    cells, at = _code_cells(case.path)
    value, words = case.bad[name]
    with pytest.raises(ParameterError) as caught:
        _run_cells(cells, at, {name: value})
    assert words in str(caught.value)


# --- end to end: the notebooks run with other parameters, as `fde run -p` runs them -------------


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_notebook_completes_with_non_default_parameters(case, settings):
    from fdelib import runner

    outcome = runner.run([case.path], case.good, jobs=1, timeout=900, settings=settings)
    [result] = outcome.results
    assert result.status == "passed", result.error


def test_a_typo_in_a_step_name_fails_the_run_with_the_validation_message(settings):
    from fdelib import runner

    saga = next(case for case in CASES if case.notebook.endswith("05_sagas"))
    outcome = runner.run([saga.path], {"fail_at": "book_trades"}, jobs=1, timeout=300, settings=settings)
    [result] = outcome.results
    assert result.status == "failed"
    assert result.error["ename"] == "ParameterError"
    assert "fail_at = 'book_trades': not allowed (did you mean 'book_trade'?)" in result.error["evalue"]


# --- helpers ------------------------------------------------------------------------------------


def _run_cells(cells: list[str], at: int, injected: dict) -> dict:
    """Run a notebook's code cells up to its check as papermill would: those up to the parameters
    cell, then the injected values (papermill's injected cell), then the check cell."""
    namespace: dict = {}
    for index, source in enumerate(cells[: at + 2]):
        exec(compile(_without_magics(source), f"<cell {index}>", "exec"), namespace)
        if index == at:
            namespace.update(injected)
    return namespace


def _spec(check_cell: str, namespace: dict) -> dict:
    call = next(
        node
        for node in ast.walk(ast.parse(check_cell))
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "params.check"
    )
    return eval(ast.unparse(call.args[1]), namespace)


def _without_magics(source: str) -> str:
    """A cell as Python: line magics and shell escapes dropped; a cell magic's body (%%sql) is
    not Python, so the whole cell is — except the variables it names with ``{name}`` or ``:name``,
    which count as uses."""
    if source.lstrip().startswith("%%"):
        names = re.findall(r"\{([A-Za-z_]\w*)\}|(?<![:\w]):([A-Za-z_]\w*)", source)
        return "\n".join(a or b for a, b in names)
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
