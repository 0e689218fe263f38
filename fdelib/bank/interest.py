"""Loan interest: charged monthly, through the ledger, at most once per loan and month.

``loans.annual_rate`` is the price of each loan. :func:`accrue` runs the database's job
``bank.accrue_interest`` for one calendar month, as the bank's owner (a back-office job, not
something the application or a notebook's role may trigger): each loan's interest for the
month — accrued day by day on what is still owed at the end of each day (the principal less the
repayments booked by then), ``round(Σ owed(d) x annual_rate / 365, 2)`` over the days of the
month the loan existed (actual/365) — is debited from the loan's repayment account as a ledger
row of kind ``loan_interest``. Without a repayment in the month that is ``owed x annual_rate x
days / 365``.

Interest is not added to ``outstanding``: that column is the principal still owed, changed only
by repayments, so ``0 <= outstanding <= principal`` and "outstanding = principal - payments"
keep holding. Every rule of an ordinary debit applies: an account that cannot pay without going
below its customer's minimum is left *in arrears* (charged when the job runs again and it can),
a closed account is not charged, and each charge carries the reference
``interest:<loan>:<YYYY-MM>`` — unique in the ledger — so running a month again charges nothing
twice.
"""

from __future__ import annotations

import re

import pandas as pd
import sqlalchemy as sa

from .. import db
from ..errors import FdeError
from .ddl import owner_engine

OUTCOMES = ("charged", "already charged", "in arrears", "account closed", "nothing due")


def _month(month) -> pd.Timestamp:
    """The first day of ``month``: a date, or text ``YYYY-MM`` / ``YYYY-MM-DD``."""
    try:
        if isinstance(month, str) and not re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", month.strip()):
            raise ValueError(month)
        first = pd.Timestamp(month)
        if pd.isna(first):
            raise ValueError(month)
    except (ValueError, TypeError):
        raise FdeError(f"month must be a month such as '2025-12', got {month!r}") from None
    return first.to_period("M").start_time


def accrue(engine: sa.Engine, month) -> pd.DataFrame:
    """Charge ``month``'s interest (``'2025-12'``); one row per loan that existed in it: days,
    owed, rate, interest, outcome (see :data:`OUTCOMES`) and the ledger row of the charge."""
    first = _month(month)
    with owner_engine(engine).begin() as conn:
        rows = conn.execute(sa.text("SELECT * FROM bank.accrue_interest(:m)"), {"m": first.date()})
        frame = pd.DataFrame(rows.fetchall(), columns=list(rows.keys()))
    frame.insert(0, "month", first.strftime("%Y-%m"))
    return frame.astype({"interest": float, "owed": float, "annual_rate": float, "transaction_id": "Int64"})


def months_due(engine: sa.Engine) -> list[str]:
    """Every month from the first loan's start to the last one over by the bank's clock."""
    with engine.connect() as conn:
        first, now = conn.execute(sa.text("SELECT min(start_date), bank.booking_clock() FROM bank.loans")).one()
    if first is None:
        return []
    last = pd.Timestamp(now).tz_convert("UTC").tz_localize(None).to_period("M") - 1
    return [str(p) for p in pd.period_range(pd.Timestamp(first).to_period("M"), last, freq="M")]


COLUMNS = ["month", "loan_id", "account_id", "days", "owed", "annual_rate", "interest", "outcome", "transaction_id"]


def catch_up(engine: sa.Engine) -> pd.DataFrame:
    """Run :func:`accrue` for every month due (in order); their loans' outcomes, one frame
    (empty, with the same columns, when no month is over yet)."""
    months = months_due(engine)
    if not months:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat([accrue(engine, m) for m in months], ignore_index=True)


def summary(charges: pd.DataFrame) -> pd.DataFrame:
    """Loans per month and outcome, and the interest charged (deterministic for a seed)."""
    if charges.empty:
        return pd.DataFrame(columns=["interest_charged"], index=pd.Index([], name="month"))
    counts = charges.pivot_table(
        index="month", columns="outcome", values="loan_id", aggfunc="count", fill_value=0
    ).reindex(columns=[o for o in OUTCOMES if o in set(charges["outcome"])])
    counts.columns.name = None
    charged = charges[charges["outcome"] == "charged"].groupby("month")["interest"].sum().round(2)
    return counts.astype(int).assign(interest_charged=charged.reindex(counts.index, fill_value=0.0))


def interest_charged(engine: sa.Engine) -> pd.DataFrame:
    """Interest booked in the ledger per loan, beside its principal, rate and outstanding amount."""
    return db.read_frame(
        """
        SELECT l.loan_id, l.principal, l.annual_rate, l.outstanding,
               count(t.transaction_id) AS months_charged, coalesce(-sum(t.amount), 0) AS interest_charged
        FROM bank.loans l LEFT JOIN bank.transactions t ON t.loan_id = l.loan_id AND t.kind = 'loan_interest'
        GROUP BY l.loan_id ORDER BY l.loan_id""",
        engine=engine,
        index_col="loan_id",
    )


def books(engine: sa.Engine) -> tuple:
    """(Σ balances, Σ outstanding), exactly (Decimal): what :func:`reconcile` compares."""
    with engine.connect() as conn:
        return tuple(
            conn.exec_driver_sql(
                "SELECT (SELECT coalesce(sum(balance), 0) FROM bank.accounts),"
                " (SELECT coalesce(sum(outstanding), 0) FROM bank.loans)"
            ).one()
        )


def reconcile(engine: sa.Engine, charges: pd.DataFrame, before: tuple) -> dict[str, object]:
    """After a run of the job (``before``: :func:`books` then): the interest it charged against
    the change of Σ balances (equal: the money left the customers' accounts for the bank's
    income), the change of what the loans owe (none: interest is not more loan), and the audit."""
    from . import ops

    balances, outstanding = books(engine)
    return {
        "interest charged": round(float(charges.loc[charges["outcome"] == "charged", "interest"].sum()), 2),
        "change of Σ balances": balances - before[0],
        "change of Σ outstanding": outstanding - before[1],
        "ledger breaks": len(ops.ledger_breaks(engine)),
    }
