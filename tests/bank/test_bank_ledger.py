"""The ledger explains every balance after any sequence of operations (model-based, hypothesis)."""

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fdelib import bank
from fdelib.bank import ops

AS_OF = "2026-01-02"
ACCOUNTS = 6


@pytest.fixture(scope="module")
def ledger_bank(engine):
    bank.populate(engine, customers=60, seed=11, as_of=AS_OF)
    return engine


def state(engine):
    """Balances, minimums and loans of the first accounts, exactly (Decimal)."""
    with engine.connect() as conn:
        accounts = {
            r.account_id: [r.balance, r.min_balance]
            for r in conn.exec_driver_sql(
                "SELECT a.account_id, a.balance, c.min_balance FROM bank.accounts a "
                f"JOIN bank.customers c USING (customer_id) WHERE a.account_id <= {ACCOUNTS}"
            )
        }
        loans = {
            r.loan_id: [r.account_id, r.outstanding]
            for r in conn.exec_driver_sql(
                f"SELECT loan_id, account_id, outstanding FROM bank.loans WHERE account_id <= {ACCOUNTS}"
            )
        }
    return accounts, loans


operation = st.tuples(
    st.sampled_from(["deposit", "withdraw", "transfer", "pay_loan"]),
    st.integers(1, ACCOUNTS),
    st.integers(1, ACCOUNTS),
    st.integers(1, 900_000),
)  # cents: up to 9 000.00, often too much


def expected(op, source, target, amount, accounts, loans) -> bool:
    """Would the bank's rules accept this? (The model the database must agree with.)"""
    if op == "deposit":
        return True
    if op == "transfer" and source == target:
        return False
    if op == "pay_loan":
        account, outstanding = loans[source]
        return amount <= outstanding and accounts[account][0] - amount >= accounts[account][1]
    return accounts[source][0] - amount >= accounts[source][1]


def apply(op, source, target, amount, accounts, loans) -> None:
    if op == "deposit":
        accounts[source][0] += amount
    elif op == "withdraw":
        accounts[source][0] -= amount
    elif op == "transfer":
        accounts[source][0] -= amount
        accounts[target][0] += amount
    else:
        account = loans[source][0]
        loans[source][1] -= amount
        accounts[account][0] -= amount


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(operation, min_size=1, max_size=12))
def test_ledger_explains_balances_after_random_operations(ledger_bank, operations):
    app = bank.app_engine(ledger_bank)
    accounts, loans = state(ledger_bank)
    loan_ids = sorted(loans)
    total_before = ops.total_money(ledger_bank)
    external = Decimal(0)  # money that entered (+) or left (-) the bank
    for op, source, target, cents in operations:
        amount = Decimal(cents) / 100
        if op == "pay_loan":
            if not loan_ids:
                continue
            source = loan_ids[source % len(loan_ids)]
        should_book = expected(op, source, target, amount, accounts, loans)
        params = {"amount": amount}
        params |= {"loan": source} if op == "pay_loan" else {"source": source}
        if op == "transfer":
            params["target"] = target
        _booked, refused = ops.attempt(app, op, **params)
        assert (refused is None) == should_book, (op, source, target, amount, refused)
        if should_book:
            apply(op, source, target, amount, accounts, loans)
            external += {"deposit": amount, "withdraw": -amount, "pay_loan": -amount}.get(op, 0)
    assert state(ledger_bank) == (accounts, loans)
    assert ops.ledger_breaks(ledger_bank).empty
    assert ops.total_money(ledger_bank) == total_before + external
