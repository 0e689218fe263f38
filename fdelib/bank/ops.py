"""The bank's operations from Python: thin calls of the SQL functions, and their refusals.

Every operation is one SQL function (``bank.transfer``, ``bank.deposit``,
``bank.withdraw``, ``bank.pay_loan``) run in its own transaction. The database decides;
Python only reports what it said: :func:`refusal` turns a psycopg2 error into
(SQLSTATE, error class, message).
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal, InvalidOperation

import numpy as np
import pandas as pd
import psycopg2
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from .. import db
from ..errors import FdeError
from .ddl import app_engine

# No operation takes a time: the database stamps each booking with the bank's clock (.clock).
OPERATIONS = {
    "transfer": "SELECT bank.transfer(:source, :target, :amount, :reference)",
    "deposit": "SELECT bank.deposit(:source, :amount, :reference)",
    "withdraw": "SELECT bank.withdraw(:source, :amount, :reference)",
    "pay_loan": "SELECT bank.pay_loan(:loan, :amount, :reference)",
}


@dataclasses.dataclass(frozen=True)
class Refusal:
    """What the database said when it refused something."""

    sqlstate: str
    error: str  # the psycopg2 error class, e.g. CheckViolation
    message: str  # first line of the server's message
    constraint: str = ""  # the constraint (or rule's trigger) the server names, if any

    @classmethod
    def of(cls, exc: BaseException) -> Refusal:
        orig = getattr(exc, "orig", exc)
        diag = getattr(orig, "diag", None)
        message = getattr(diag, "message_primary", None) or str(orig).strip().splitlines()[0]
        return cls(
            getattr(orig, "pgcode", None) or "",
            type(orig).__name__,
            message,
            getattr(diag, "constraint_name", None) or "",
        )


class AmountError(FdeError, ValueError):
    """An amount that is not a finite number (refused before anything is sent)."""


def amount(value) -> Decimal:
    """``value`` as an exact Decimal amount of money: numbers, Decimals and numeric strings.

    NaN and ±Infinity (float, Decimal or text such as ``'NaN'``, ``'-inf'``), booleans and
    anything that is not a number are refused with :class:`AmountError`. The database checks
    the same again (and the sign, whole cents and the largest amount): this is the first of
    two walls, not the only one.
    """
    if isinstance(value, Decimal):
        exact = value
    elif isinstance(value, (bool, np.bool_)) or value is None:
        raise AmountError(f"amount must be a number, got {value!r}")
    elif isinstance(value, (int, np.integer)):
        exact = Decimal(int(value))
    elif isinstance(value, (float, np.floating)):
        exact = Decimal(repr(float(value)))  # shortest repr: 0.1 -> Decimal('0.1'), nan -> NaN
    elif isinstance(value, str):
        try:
            exact = Decimal(value.strip())
        except InvalidOperation:
            raise AmountError(f"amount must be a number, got {value!r}") from None
    else:
        raise AmountError(f"amount must be a number, got {type(value).__name__} {value!r}")
    if not exact.is_finite():
        raise AmountError(f"amount must be a finite number, got {value!r}")
    return exact


def call(engine: sa.Engine, operation: str, **params) -> int:
    """Run one operation in its own transaction; return the booked transaction id.

    Raises the database's error (wrapped by SQLAlchemy; ``exc.orig`` is psycopg2's).
    """
    if operation not in OPERATIONS:
        raise FdeError(f"unknown operation {operation!r}; one of {', '.join(OPERATIONS)}")
    if "at" in params:
        raise FdeError(
            "operations take no time: the bank stamps each booking with its own clock "
            "(a lesson's course clock is set by bank.populate or bank.clock.set_course)"
        )
    params = {"reference": None, "target": None, "loan": None, **params}
    params["amount"] = amount(params["amount"])
    with engine.begin() as conn:
        return conn.execute(sa.text(OPERATIONS[operation]), params).scalar_one()


def attempt(engine: sa.Engine, operation: str, **params) -> tuple[int | None, Refusal | None]:
    """Like :func:`call`, but a refusal is returned instead of raised."""
    try:
        return call(engine, operation, **params), None
    except DBAPIError as exc:
        if not isinstance(exc.orig, psycopg2.Error):
            raise
        return None, Refusal.of(exc)


def plan_day(engine: sa.Engine, operations: int, seed: int, as_of: str) -> pd.DataFrame:
    """A seeded list of customer requests for one business day (some will be refused)."""
    rng = np.random.default_rng(seed)
    accounts = db.read_frame("SELECT account_id FROM bank.accounts ORDER BY account_id", engine=engine)[
        "account_id"
    ].to_numpy()
    loans = db.read_frame("SELECT loan_id FROM bank.loans WHERE outstanding > 0 ORDER BY loan_id", engine=engine)[
        "loan_id"
    ].to_numpy()
    kinds = rng.choice(["transfer", "deposit", "withdraw", "pay_loan"], operations, p=[0.6, 0.15, 0.15, 0.1])
    if len(loans) == 0:
        kinds[kinds == "pay_loan"] = "deposit"
    source = rng.choice(accounts, operations)
    target = rng.choice(accounts, operations)
    # mostly everyday amounts, a few too large for anyone's balance
    amount = np.round(np.exp(rng.normal(5.5, 1.6, operations)), 2).clip(1, 250_000)
    return pd.DataFrame(
        {
            "n": np.arange(operations),
            "operation": kinds,
            "source": source,
            "target": np.where(kinds == "transfer", target, 0),
            "loan": rng.choice(loans, operations) if len(loans) else 0,
            "amount": amount,
            "reference": [f"day-{as_of}-{i:05d}" for i in range(operations)],
        }
    )


def run_day(engine: sa.Engine, plan: pd.DataFrame) -> pd.DataFrame:
    """Send each planned request, one after the other, as the application role."""
    app = app_engine(engine)
    rows = []
    for request in plan.itertuples(index=False):
        params = {"source": int(request.source), "amount": request.amount, "reference": request.reference}
        if request.operation == "transfer":
            params["target"] = int(request.target)
        if request.operation == "pay_loan":
            params = {"loan": int(request.loan), "amount": request.amount, "reference": request.reference}
        booked, refused = attempt(app, request.operation, **params)
        rows.append(
            {
                "n": request.n,
                "operation": request.operation,
                "booked": booked,
                "outcome": "booked" if refused is None else refused.error,
                "message": None if refused is None else refused.message,
            }
        )
    return pd.DataFrame(rows)


def outcome_table(results: pd.DataFrame) -> pd.DataFrame:
    """Requests by operation and outcome (booked, or the error class that refused them)."""
    table = results.pivot_table(index="operation", columns="outcome", values="n", aggfunc="count", fill_value=0)
    table.columns.name = None
    return table.astype(int)


def ledger_breaks(engine: sa.Engine) -> pd.DataFrame:
    """Every way the ledger fails to explain the balances (empty when sound)."""
    return db.read_frame("SELECT * FROM bank.ledger_breaks()", engine=engine)


def total_money(engine: sa.Engine) -> Decimal:
    """Σ of all balances, exactly (numeric, not float)."""
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT coalesce(sum(balance), 0) FROM bank.accounts").scalar_one()
