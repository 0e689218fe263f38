"""NaN and ±Infinity are not money: refused in Python, by every operation and by every money column.

The attack (issue 12, point 1): ``bank_app`` deposited ``'NaN'``; NaN passed the sign, minimum-balance
and chain checks (NaN sorts above every number and ``NaN = NaN`` is true in PostgreSQL), then
1,000,000.00 was transferred out and withdrawn from an account that held far less, and
``bank.ledger_breaks()`` saw nothing. Here every form of the attack is sent straight to the
database as ``bank_app`` (past fdelib's own check) and must be refused, leaving the bank unchanged.
"""

from decimal import Decimal

import psycopg2
import psycopg2.errors
import pytest

from fdelib import bank
from fdelib.bank import ops
from fdelib.bank.ddl import raw_connect

AS_OF = "2026-01-02"
FINGERPRINT = """SELECT (SELECT sum(balance)::text FROM bank.accounts), (SELECT count(*) FROM bank.transactions),
    (SELECT sum(outstanding)::text FROM bank.loans)"""

# (how the attacker writes the amount, the value psycopg2 sends)
HOSTILE = [
    ("%s", Decimal("NaN")),
    ("%s", Decimal("sNaN")),
    ("%s", Decimal("Infinity")),
    ("%s", Decimal("-Infinity")),
    ("%s", "NaN"),
    ("%s", "nan"),
    ("%s", "Infinity"),
    ("%s", "-Infinity"),
    ("%s", "inf"),
    ("%s::numeric", float("nan")),
    ("%s::numeric", float("inf")),
    ("%s::numeric", float("-inf")),
    ("%s::numeric", "NaN"),
]
OPERATIONS = {
    "deposit": "SELECT bank.deposit(%(account)s, {amount}, %(ref)s)",
    "withdraw": "SELECT bank.withdraw(%(account)s, {amount}, %(ref)s)",
    "transfer": "SELECT bank.transfer(%(account)s, %(other)s, {amount}, %(ref)s)",
    "pay_loan": "SELECT bank.pay_loan(%(loan)s, {amount}, %(ref)s)",
}


@pytest.fixture(scope="module")
def attacked_bank(engine):
    bank.populate(engine, customers=80, seed=21, as_of=AS_OF)
    return engine


def fingerprint(engine):
    with engine.connect() as conn:
        return tuple(conn.exec_driver_sql(FINGERPRINT).one())


@pytest.mark.parametrize(
    "value",
    [
        "NaN",
        "nan",
        "-nan",
        "Infinity",
        "-Infinity",
        "inf",
        "+inf",
        "sNaN",
        float("nan"),
        float("inf"),
        float("-inf"),
        Decimal("NaN"),
        Decimal("-Infinity"),
        Decimal("sNaN"),
        "ten",
        "",
        True,
        None,
        [1],
    ],
    ids=repr,
)
def test_python_refuses_what_is_not_a_finite_number(value):
    with pytest.raises(ops.AmountError, match="amount must be a"):
        ops.amount(value)


def test_python_keeps_exact_amounts():
    assert ops.amount("12.34") == Decimal("12.34")
    assert ops.amount(0.1) == Decimal("0.1")  # the float's shortest repr, not 0.1000000000000000055...
    assert ops.amount(7) == Decimal(7)
    assert ops.amount(Decimal("-5")) == Decimal("-5")  # the sign is the database's to refuse, with its rule


def test_ops_call_refuses_before_sending_anything(attacked_bank):
    before = fingerprint(attacked_bank)
    with pytest.raises(ops.AmountError, match="finite"):
        ops.call(bank.app_engine(attacked_bank), "deposit", source=1, amount="NaN", reference="py-nan")
    assert fingerprint(attacked_bank) == before


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize("written, value", HOSTILE, ids=[f"{w % repr(v)}" for w, v in HOSTILE])
def test_the_database_refuses_every_non_finite_amount(attacked_bank, operation, written, value):
    with attacked_bank.connect() as conn:
        account, other, loan = conn.exec_driver_sql(
            "SELECT l.account_id, (SELECT min(account_id) FROM bank.accounts WHERE account_id <> l.account_id),"
            " l.loan_id FROM bank.loans l WHERE l.outstanding > 0 ORDER BY l.loan_id LIMIT 1"
        ).one()
    before = fingerprint(attacked_bank)
    conn = raw_connect(bank.app_engine(attacked_bank))  # bank_app, straight psycopg2: no fdelib check
    try:
        with conn.cursor() as cur, pytest.raises(psycopg2.errors.InvalidParameterValue) as refused:
            cur.execute(
                OPERATIONS[operation].format(amount=written.replace("%s", "%(amount)s")),
                {"account": account, "other": other, "loan": loan, "amount": value, "ref": f"nan-{operation}"},
            )
        assert "amount must be a finite number" in refused.value.diag.message_primary
        conn.rollback()
    finally:
        conn.close()
    assert fingerprint(attacked_bank) == before


def test_the_attack_of_the_issue_is_refused_at_its_first_step(attacked_bank):
    """deposit 'NaN', then move 1,000,000.00 out of the account: nothing is booked, Σ stays a number."""
    app = bank.app_engine(attacked_bank)
    total = ops.total_money(attacked_bank)
    import sqlalchemy as sa

    for statement in (
        "SELECT bank.deposit(1, 'NaN', 'issue-1')",
        "SELECT bank.transfer(1, 2, 1000000, 'issue-2')",
        "SELECT bank.withdraw(2, 1000000, 'issue-3')",
    ):
        with pytest.raises(sa.exc.DBAPIError), app.begin() as conn:
            conn.execute(sa.text(statement))
    assert ops.total_money(attacked_bank) == total and total.is_finite()
    assert ops.ledger_breaks(attacked_bank).empty
