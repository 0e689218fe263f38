"""Loan interest (issue 14): charged monthly through the ledger, once per loan and month."""

import threading
from decimal import Decimal

import pandas as pd
import pytest
import sqlalchemy as sa

from fdelib import bank, db
from fdelib.bank import clock, ddl, interest, ops
from fdelib.errors import FdeError

AS_OF = "2026-01-02"


@pytest.fixture()
def lending_bank(engine):
    bank.populate(engine, customers=150, seed=31, as_of=AS_OF)
    return engine


def snapshot(engine):
    with engine.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT (SELECT sum(balance) FROM bank.accounts), (SELECT count(*) FROM bank.transactions),"
            " (SELECT sum(outstanding) FROM bank.loans)"
        ).one()


def expected_interest(engine, month: str) -> pd.DataFrame:
    """The job's arithmetic done again in Python, day by day from the ledger: ACT/365 on what was
    still owed at the end of each day of the month the loan existed, rounded to the cent (half up)."""
    first = pd.Timestamp(month + "-01")
    after = first + pd.offsets.MonthBegin(1)
    loans = db.read_frame(
        "SELECT loan_id, principal, annual_rate, start_date FROM bank.loans ORDER BY loan_id", engine=engine
    )
    payments = db.read_frame(
        "SELECT loan_id, -amount AS paid, (booked_at AT TIME ZONE 'UTC')::date AS day"
        " FROM bank.transactions WHERE kind = 'loan_payment' AND booked_at < :end",
        {"end": after.tz_localize("UTC")},
        engine=engine,
    )
    loans = loans[pd.to_datetime(loans["start_date"]) < after].copy()
    loans["days"] = (after - pd.to_datetime(loans["start_date"]).clip(lower=first)).dt.days
    interest = []
    for loan in loans.itertuples():
        mine = payments[payments["loan_id"] == loan.loan_id]
        owed_days = Decimal(0)
        for day in pd.date_range(max(first, pd.Timestamp(loan.start_date)), after - pd.Timedelta(days=1)):
            paid = sum((Decimal(repr(p)) for p in mine.loc[pd.to_datetime(mine["day"]) <= day, "paid"]), Decimal(0))
            owed_days += Decimal(repr(loan.principal)) - paid
        exact = owed_days * Decimal(repr(loan.annual_rate)) / 365
        interest.append(float(exact.quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")))
    loans["interest"] = interest
    return loans.set_index("loan_id")


def test_each_month_is_charged_by_the_rule_through_the_ledger_once(lending_bank):
    months = interest.months_due(lending_bank)
    assert months == ["2025-10", "2025-11", "2025-12"]  # loans start before the history; the clock is 2026-01-02
    with lending_bank.connect() as conn:  # repayments inside the months: the daily accrual is exercised
        assert (
            conn.exec_driver_sql(
                "SELECT count(*) FROM bank.transactions WHERE kind = 'loan_payment'"
                " AND extract(day FROM booked_at AT TIME ZONE 'UTC') > 1"
            ).scalar()
            > 20
        )
    total, _, outstanding = snapshot(lending_bank)
    charges = interest.catch_up(lending_bank)
    assert set(charges["outcome"]) <= set(interest.OUTCOMES) and (charges["outcome"] == "charged").sum() > 50
    for month in months:
        mine = charges[charges["month"] == month].set_index("loan_id")
        expected = expected_interest(lending_bank, month)
        assert list(mine.index) == list(expected.index)
        assert (mine["days"] == expected["days"]).all()
        assert (mine["interest"] == expected["interest"]).all(), month
    charged = charges[charges["outcome"] == "charged"]
    ledger = db.read_frame(
        "SELECT transaction_id, loan_id, amount, reference, booked_at FROM bank.transactions"
        " WHERE kind = 'loan_interest' ORDER BY transaction_id",
        engine=lending_bank,
    )
    assert len(ledger) == len(charged) and set(ledger["transaction_id"]) == set(charged["transaction_id"])
    assert (
        ledger["reference"]
        == "interest:"
        + ledger["loan_id"].astype(str)
        + ":"
        + charged.set_index("transaction_id").loc[ledger["transaction_id"], "month"].to_numpy()
    ).all()
    assert (ledger["booked_at"] == clock.course_time(AS_OF)).all()
    after_total, after_rows, after_outstanding = snapshot(lending_bank)
    assert total - after_total == Decimal(str(round(charged["interest"].sum(), 2)))  # money left to the bank
    assert after_outstanding == outstanding  # interest is not more loan
    assert ops.ledger_breaks(lending_bank).empty

    again = interest.catch_up(lending_bank)  # idempotent per loan and month
    assert set(again["outcome"]) <= {"already charged", "in arrears", "nothing due", "account closed"}
    assert (again["outcome"] == "already charged").sum() == len(charged)
    assert snapshot(lending_bank) == (after_total, after_rows, after_outstanding)


def test_an_account_that_cannot_pay_is_in_arrears_until_it_can(lending_bank):
    owner = ddl.owner_engine(lending_bank)
    loan, account = db.read_frame(
        "SELECT loan_id, account_id FROM bank.loans WHERE start_date < '2025-12-01' ORDER BY loan_id LIMIT 1",
        engine=lending_bank,
    ).iloc[0]
    with owner.begin() as conn:  # the customer's minimum raised to the whole balance: nothing to spare
        conn.execute(
            sa.text(
                "UPDATE bank.customers SET min_balance = a.balance FROM bank.accounts a"
                " WHERE a.account_id = :a AND bank.customers.customer_id = a.customer_id"
            ),
            {"a": int(account)},
        )
    first = interest.accrue(lending_bank, "2025-12").set_index("loan_id").loc[loan]
    assert first["outcome"] == "in arrears" and pd.isna(first["transaction_id"])
    ops.call(bank.app_engine(lending_bank), "deposit", source=int(account), amount="5000", reference="arrears")
    second = interest.accrue(lending_bank, "2025-12").set_index("loan_id")
    assert second.loc[loan, "outcome"] == "charged" and second.loc[loan, "interest"] == first["interest"]
    assert (second.drop(index=loan)["outcome"] != "charged").all()  # the others were charged the first time
    assert ops.ledger_breaks(lending_bank).empty


def test_a_month_is_charged_once_it_is_over_and_only_by_the_bank(lending_bank):
    with pytest.raises(sa.exc.DBAPIError, match="interest for 2026-01 can be charged from 2026-02-01"):
        interest.accrue(lending_bank, "2026-01")
    with pytest.raises(FdeError, match="month must be a month"):
        interest.accrue(lending_bank, "Dec")
    for who in (bank.app_engine(lending_bank), lending_bank):
        with (
            pytest.raises(sa.exc.ProgrammingError, match="permission denied for function accrue_interest"),
            who.begin() as conn,
        ):
            conn.exec_driver_sql("SELECT * FROM bank.accrue_interest('2025-12-01')")
    booking, refused = ops.attempt(
        bank.app_engine(lending_bank), "deposit", source=1, amount="1", reference="interest:1:2025-12"
    )  # a client cannot pre-empt a charge
    assert booking is None and "are the bank's own" in refused.message


def test_two_jobs_at_once_charge_each_loan_once(lending_bank):
    results, errors = [], []

    def job():
        try:
            results.append(interest.accrue(lending_bank, "2025-11"))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=job) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(results) == 2
    outcomes = pd.concat(results).groupby("loan_id")["outcome"].apply(sorted)
    charged = outcomes[outcomes.apply(lambda o: "charged" in o)]
    assert len(charged) > 0 and all(o == ["already charged", "charged"] for o in charged)
    with lending_bank.connect() as conn:
        assert (
            conn.exec_driver_sql(
                "SELECT count(*) - count(DISTINCT reference) FROM bank.transactions WHERE kind = 'loan_interest'"
            ).scalar()
            == 0
        )
    assert ops.ledger_breaks(lending_bank).empty
