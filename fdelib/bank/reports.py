"""What a bank asks its database: balances, statements, the loan book, branch staffing.

Each function is one SQL query (the database does the work) returning a DataFrame with
money rounded to cents and timestamps rendered in UTC, so notebook outputs are stable.
Plots take those frames. :func:`reconcile_day` checks a business day's requests against
the balances: no money may appear or vanish.
"""

from __future__ import annotations

from decimal import Decimal

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import sqlalchemy as sa

from .. import db
from . import ops
from .ddl import TABLES


def table_sizes(engine: sa.Engine) -> pd.DataFrame:
    """Rows per table (exact counts)."""
    sql = " UNION ALL ".join(f"SELECT '{t}' AS table_name, count(*) AS rows FROM bank.{t}" for t in TABLES)
    return db.read_frame(sql, engine=engine, index_col="table_name")


def balances_by_kind(engine: sa.Engine) -> pd.DataFrame:
    """Accounts, total and quantiles of balances per account kind."""
    return db.read_frame(
        """
        SELECT kind, count(*) AS accounts, sum(balance) AS total,
               round(avg(balance), 2) AS mean,
               percentile_disc(0.5) WITHIN GROUP (ORDER BY balance) AS median,
               percentile_disc(0.99) WITHIN GROUP (ORDER BY balance) AS p99,
               min(balance - c.min_balance) AS least_headroom
        FROM bank.accounts a JOIN bank.customers c USING (customer_id)
        GROUP BY kind ORDER BY kind""",
        engine=engine,
        index_col="kind",
    )


def plot_balances(engine: sa.Engine) -> None:
    """Histogram of balances per account kind (log-spaced bins: money is skewed)."""
    frame = db.read_frame("SELECT kind, balance FROM bank.accounts ORDER BY account_id", engine=engine)
    bins = np.logspace(1, np.log10(max(frame["balance"].max(), 100)) + 0.1, 40)
    _fig, ax = plt.subplots(figsize=(7, 3))
    for kind, group in frame.groupby("kind"):
        ax.hist(group["balance"].clip(lower=10), bins=bins.tolist(), alpha=0.6, label=kind)
    ax.set_xscale("log")
    ax.set_xlabel("balance (log scale)")
    ax.set_ylabel("accounts")
    ax.set_title("Account balances")
    ax.legend()
    plt.show()


def customer_accounts(engine: sa.Engine, customer_id: int) -> pd.DataFrame:
    """A customer's accounts with their balances and the customer's floor."""
    return db.read_frame(
        """
        SELECT a.account_number, a.kind, b.code AS branch, a.opened_on::text AS opened_on,
               a.balance, c.min_balance
        FROM bank.accounts a JOIN bank.customers c USING (customer_id)
             JOIN bank.branches b ON b.branch_id = a.branch_id
        WHERE a.customer_id = :customer ORDER BY a.account_id""",
        {"customer": customer_id},
        engine=engine,
    )


def statement(engine: sa.Engine, account_id: int, last: int = 12) -> pd.DataFrame:
    """The last ``last`` ledger rows of an account, oldest first, with counterparties."""
    return db.read_frame(
        """
        SELECT * FROM (
            SELECT t.transaction_id,
                   to_char(t.booked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS booked_utc,
                   t.kind, t.amount, t.balance_after,
                   coalesce(other.account_number, other_in.account_number,
                            CASE WHEN t.loan_id IS NOT NULL THEN 'loan ' || t.loan_id END, '') AS counterparty
            FROM bank.transactions t
            LEFT JOIN bank.transactions leg ON leg.transaction_id = t.counterpart_id
            LEFT JOIN bank.accounts other ON other.account_id = leg.account_id
            LEFT JOIN bank.transactions back ON back.counterpart_id = t.transaction_id
            LEFT JOIN bank.accounts other_in ON other_in.account_id = back.account_id
            WHERE t.account_id = :account
            ORDER BY t.transaction_id DESC LIMIT :last) s
        ORDER BY transaction_id""",
        {"account": account_id, "last": last},
        engine=engine,
        index_col="transaction_id",
    )


def loan_book(engine: sa.Engine) -> pd.DataFrame:
    """Loans by term: count, principal, outstanding, share repaid, rate weighted by balance."""
    return db.read_frame(
        """
        SELECT term_months, count(*) AS loans, sum(principal) AS principal,
               sum(outstanding) AS outstanding,
               round(100 * (1 - sum(outstanding) / sum(principal)), 2) AS repaid_pct,
               round(100 * sum(annual_rate * outstanding) / nullif(sum(outstanding), 0), 3)
                   AS weighted_rate_pct,
               count(*) FILTER (WHERE outstanding = 0) AS repaid_in_full
        FROM bank.loans GROUP BY term_months ORDER BY term_months""",
        engine=engine,
        index_col="term_months",
    )


def plot_loan_book(book: pd.DataFrame) -> None:
    """Principal and outstanding per term, side by side."""
    ax = (book[["principal", "outstanding"]] / 1e6).plot.bar(figsize=(7, 3), rot=0)
    ax.set_xlabel("term (months)")
    ax.set_ylabel("millions")
    ax.set_title("Loan book by term")
    plt.show()


def staffing(engine: sa.Engine) -> pd.DataFrame:
    """Per branch: staff by role, customers and accounts served, customers per employee."""
    return db.read_frame(
        """
        WITH staff AS (
            SELECT branch_id, count(*) AS staff,
                   count(*) FILTER (WHERE role = 'manager') AS managers,
                   count(*) FILTER (WHERE role = 'teller') AS tellers,
                   count(*) FILTER (WHERE role = 'advisor') AS advisors,
                   count(*) FILTER (WHERE role = 'loan officer') AS loan_officers
            FROM bank.employees GROUP BY branch_id),
        served AS (SELECT home_branch_id AS branch_id, count(*) AS customers
                   FROM bank.customers GROUP BY home_branch_id),
        held AS (SELECT branch_id, count(*) AS accounts FROM bank.accounts GROUP BY branch_id)
        SELECT b.code AS branch, b.city, s.managers, s.tellers, s.advisors, s.loan_officers,
               coalesce(v.customers, 0) AS customers, coalesce(h.accounts, 0) AS accounts,
               round(coalesce(v.customers, 0)::numeric / s.staff, 1) AS customers_per_employee
        FROM bank.branches b JOIN staff s USING (branch_id)
             LEFT JOIN served v USING (branch_id) LEFT JOIN held h USING (branch_id)
        ORDER BY b.code""",
        engine=engine,
        index_col="branch",
    )


def plot_staffing(staff: pd.DataFrame) -> None:
    """Stacked staff per branch against the customers each branch serves."""
    _fig, ax = plt.subplots(figsize=(8, 3))
    roles = ["managers", "tellers", "advisors", "loan_officers"]
    staff[roles].plot.bar(stacked=True, ax=ax, rot=0, width=0.7)
    ax.set_ylabel("employees")
    ax2 = ax.twinx()
    ax2.plot(range(len(staff)), staff["customers"], "ko-", label="customers")
    ax2.set_ylabel("customers")
    ax.set_title("Branch staffing against customers served")
    ax.legend(loc="upper left", fontsize=8)
    ax2.legend(loc="upper right", fontsize=8)
    plt.show()


def booked_flow(plan: pd.DataFrame, results: pd.DataFrame) -> float:
    """By how much the booked requests of a day should change Σ balances: deposits minus
    withdrawals minus loan payments (transfers only move money; refused requests change nothing).

    ``plan`` and ``results`` are :func:`.ops.plan_day`'s and :func:`.ops.run_day`'s frames.
    """
    booked = results.merge(plan, on=["n", "operation"])[lambda r: r["outcome"] == "booked"]
    flow = booked.groupby("operation")["amount"].sum().round(2)
    return float(round(flow.get("deposit", 0) - flow.get("withdraw", 0) - flow.get("pay_loan", 0), 2))


def reconcile_day(
    engine: sa.Engine, plan: pd.DataFrame, results: pd.DataFrame, total_before: Decimal
) -> dict[str, object]:
    """After a day of requests: the change of Σ balances since ``total_before``, what the booked
    requests explain (:func:`booked_flow`) — equal when no money appeared or vanished — and how
    many ledger breaks the database's audit finds."""
    return {
        "change of Σ balances": ops.total_money(engine) - total_before,
        "deposits - withdrawals - loan payments": booked_flow(plan, results),
        "ledger breaks": len(ops.ledger_breaks(engine)),
    }
