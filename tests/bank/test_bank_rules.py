"""One test per rule: the database itself refuses, with the expected error, and nothing changes."""

import re
from pathlib import Path

import psycopg2.errors
import pytest
import sqlalchemy as sa

from fdelib import bank
from fdelib.bank import ops, rules

AS_OF = "2026-01-02"
FUNCTIONS_SQL = Path(bank.__file__).with_name("functions.sql")
FINGERPRINT = """SELECT (SELECT sum(balance) FROM bank.accounts), (SELECT count(*) FROM bank.transactions),
    (SELECT sum(outstanding) FROM bank.loans), (SELECT sum(min_balance) FROM bank.customers),
    (SELECT count(*) FROM bank.customers), (SELECT count(*) FROM bank.accounts),
    (SELECT count(*) FROM bank.cards), (SELECT count(*) FROM bank.employees),
    (SELECT count(*) FROM bank.branches), (SELECT count(*) FROM bank.accounts WHERE closed_on IS NOT NULL)"""


@pytest.fixture(scope="module")
def small_bank(engine):
    bank.populate(engine, customers=200, seed=3, as_of=AS_OF)
    return engine


def fingerprint(engine):
    with engine.connect() as conn:
        return tuple(conn.exec_driver_sql(FINGERPRINT).one())


@pytest.mark.parametrize("rule", rules.RULES, ids=[r.name for r in rules.RULES])
def test_rule_is_enforced_by_the_database(small_bank, rule):
    before = fingerprint(small_bank)
    exc = rules.try_rule(small_bank, rule)
    assert exc is not None, f"the database accepted: {rule.attempt}"
    assert isinstance(exc.orig, getattr(psycopg2.errors, rule.error)), (type(exc.orig), str(exc.orig))
    assert rule.fragment in str(exc.orig)
    assert exc.orig.diag.constraint_name == rule.constraint
    assert fingerprint(small_bank) == before


def test_every_named_constraint_and_rule_trigger_has_an_attempt(small_bank):
    """Each constraint of schema bank (but the two composite keys that only serve as foreign-key
    targets, which nothing can break without first breaking a primary key) and each rule's
    trigger is broken by some attempt in RULES."""
    with small_bank.connect() as conn:
        named = set(
            conn.exec_driver_sql("""
            SELECT conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
            WHERE n.nspname = 'bank' AND c.contype IN ('c', 'f', 'u', 'x')
            UNION SELECT indexrelid::regclass::text FROM pg_index i
            JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
            WHERE n.nspname = 'bank' AND i.indisunique AND NOT i.indisprimary
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)""").scalars()
        )
    named = {name.removeprefix("bank.") for name in named}
    covered = {rule.constraint for rule in rules.RULES}
    only_fk_targets = {"accounts_id_customer_key", "loans_id_account_key"}
    assert named - covered - only_fk_targets == set()
    raised_by_triggers = set(re.findall(r"CONSTRAINT = '(\w+)'", FUNCTIONS_SQL.read_text()))
    assert {"accounts_min_balance", "transactions_chain"} <= raised_by_triggers
    assert raised_by_triggers - covered == set()
    assert "customers_pkey" in covered


def test_the_application_role_can_move_money_but_not_write_tables(small_bank):
    app = bank.app_engine(small_bank)
    with app.connect() as conn:
        who = conn.exec_driver_sql(
            "SELECT current_user, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user"
        ).one()
    assert tuple(who) == ("bank_app", False, False, False)
    before = ops.total_money(small_bank)
    booked = ops.call(app, "transfer", source=1, target=2, amount="1.00", reference="app-can-transfer")
    assert booked > 0
    assert ops.total_money(small_bank) == before
    for statement in (
        "UPDATE bank.accounts SET balance = 0",
        "DELETE FROM bank.transactions",
        "TRUNCATE bank.accounts",
        "INSERT INTO bank.branches (code, name, city, opened_on) VALUES ('BR999','x','x','2020-01-01')",
    ):
        with pytest.raises(sa.exc.ProgrammingError) as info, app.begin() as conn:
            conn.exec_driver_sql(statement)
        assert isinstance(info.value.orig, psycopg2.errors.InsufficientPrivilege)


def test_a_retried_request_is_booked_once(small_bank):
    app = bank.app_engine(small_bank)
    first = ops.call(app, "transfer", source=3, target=4, amount="2.50", reference="retry-1")
    second = ops.call(app, "transfer", source=3, target=4, amount="2.50", reference="retry-1")
    assert first == second
    with small_bank.connect() as conn:
        legs = conn.exec_driver_sql("SELECT count(*) FROM bank.transactions WHERE reference = 'retry-1'").scalar()
    assert legs == 2


def test_lowering_a_minimum_is_allowed_and_raising_to_a_balance_is_too(small_bank):
    """Raise a customer's minimum to exactly their lowest balance, then lower it to 0 -- both
    accepted -- in a transaction that is rolled back: the shared bank is left as it was."""
    before = fingerprint(small_bank)
    with bank.ddl.owner_engine(small_bank).connect() as conn:
        transaction = conn.begin()
        try:
            customer, minimum, lowest = conn.exec_driver_sql(
                "SELECT c.customer_id, c.min_balance, min(a.balance) FROM bank.customers c"
                " JOIN bank.accounts a USING (customer_id) GROUP BY c.customer_id"
                " HAVING min(a.balance) > c.min_balance ORDER BY c.customer_id LIMIT 1"
            ).one()
            minimum_of = sa.text("SELECT min_balance FROM bank.customers WHERE customer_id = :c")
            set_minimum = sa.text("UPDATE bank.customers SET min_balance = :m WHERE customer_id = :c")
            conn.execute(set_minimum, {"m": lowest, "c": customer})  # a raise: the trigger checks it
            assert conn.execute(minimum_of, {"c": customer}).scalar_one() == lowest > minimum
            conn.execute(set_minimum, {"m": 0, "c": customer})
            assert conn.execute(minimum_of, {"c": customer}).scalar_one() == 0
        finally:
            transaction.rollback()
    assert fingerprint(small_bank) == before


def _reference_rows(engine, reference):
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT transaction_id, account_id, kind, amount FROM bank.transactions"
                " WHERE reference = :r ORDER BY transaction_id"
            ),
            {"r": reference},
        ).all()


def _rich_accounts(engine, count):
    with engine.connect() as conn:
        return list(
            conn.exec_driver_sql(
                "SELECT a.account_id FROM bank.accounts a JOIN bank.customers c USING (customer_id)"
                " WHERE a.closed_on IS NULL AND a.balance - c.min_balance >= 1000"
                f" ORDER BY a.account_id LIMIT {count}"
            ).scalars()
        )


def _loan(engine):
    with engine.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT l.loan_id, l.account_id FROM bank.loans l JOIN bank.accounts a USING (account_id, customer_id)"
            " JOIN bank.customers c USING (customer_id)"
            " WHERE l.outstanding >= 100 AND a.balance - c.min_balance >= 100"
            " ORDER BY l.loan_id LIMIT 1"
        ).one()


@pytest.mark.parametrize("operation", ["deposit", "withdraw", "transfer", "pay_loan"])
def test_an_identical_replay_returns_the_original_booking(small_bank, operation):
    app = bank.app_engine(small_bank)
    source, target = _rich_accounts(small_bank, 2)
    loan, _ = _loan(small_bank)
    request = {
        "deposit": {"source": source},
        "withdraw": {"source": source},
        "transfer": {"source": source, "target": target},
        "pay_loan": {"loan": loan},
    }[operation]
    reference = f"replay-{operation}"
    first = ops.call(app, operation, amount="12.34", reference=reference, **request)
    booked = _reference_rows(small_bank, reference)
    before = fingerprint(small_bank)
    again = ops.call(app, operation, amount="12.340", reference=reference, **request)
    assert again == first == booked[0].transaction_id
    assert len(booked) == (2 if operation == "transfer" else 1)
    assert _reference_rows(small_bank, reference) == booked
    assert fingerprint(small_bank) == before


def test_a_reused_reference_that_differs_is_refused_and_writes_nothing(small_bank):
    """Each request reuses the reference of a withdrawal or a transfer already booked, changing one
    thing (or several): the refusal names the reference, the original booking and what differs."""
    app = bank.app_engine(small_bank)
    a, b, c = _rich_accounts(small_bank, 3)
    loan, loan_account = _loan(small_bank)
    ops.call(app, "withdraw", source=a, amount="10", reference="reuse-w")
    ops.call(app, "transfer", source=a, target=b, amount="10", reference="reuse-t")
    ops.call(app, "pay_loan", loan=loan, amount="10", reference="reuse-l")
    withdrawal = f"a withdrawal of 10.00 from account {a}"
    transfer = f"a transfer of 10.00 from account {a} to account {b}"
    payment = f"a payment of 10.00 on loan {loan} from account {loan_account}"
    other = b if loan_account == a else a
    cases = [
        ("reuse-w", "transfer", {"source": a, "target": b, "amount": "10"}, withdrawal, "operation kind differs"),
        ("reuse-w", "deposit", {"source": a, "amount": "10"}, withdrawal, "operation kind differs"),
        ("reuse-w", "withdraw", {"source": b, "amount": "10"}, withdrawal, "(account differs)"),
        ("reuse-w", "withdraw", {"source": a, "amount": "10.01"}, withdrawal, "(amount differs)"),
        ("reuse-t", "transfer", {"source": a, "target": c, "amount": "10"}, transfer, "(target account differs)"),
        ("reuse-t", "transfer", {"source": c, "target": b, "amount": "10"}, transfer, "(source account differs)"),
        ("reuse-t", "transfer", {"source": a, "target": b, "amount": "9.99"}, transfer, "(amount differs)"),
        ("reuse-t", "withdraw", {"source": a, "amount": "10"}, transfer, "operation kind differs"),
        (
            "reuse-t",
            "transfer",
            {"source": b, "target": a, "amount": "10"},
            transfer,
            "(source account, target account differ)",
        ),
        ("reuse-l", "withdraw", {"source": loan_account, "amount": "10"}, payment, "operation kind differs"),
        (
            "reuse-l",
            "transfer",
            {"source": loan_account, "target": other, "amount": "10"},
            payment,
            "operation kind differs",
        ),
    ]
    for reference, operation, request, original, differs in cases:
        booked = _reference_rows(small_bank, reference)
        before = fingerprint(small_bank)
        booking, refusal = ops.attempt(app, operation, reference=reference, **request)
        assert booking is None, (reference, operation, request)
        assert (refusal.error, refusal.constraint) == ("UniqueViolation", "transactions_reference_key"), refusal
        assert refusal.message.startswith(f"reference '{reference}' was already used for {original};"), refusal.message
        assert differs in refusal.message, refusal.message
        assert _reference_rows(small_bank, reference) == booked
        assert fingerprint(small_bank) == before
    assert ops.ledger_breaks(small_bank).empty
