"""One test per rule: the database itself refuses, with the expected error, and nothing changes."""

import psycopg2.errors
import pytest
import sqlalchemy as sa

from fdelib import bank
from fdelib.bank import ops, rules

AS_OF = "2026-01-02"
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
    exc = rules.try_rule(small_bank, rule, AS_OF)
    assert exc is not None, f"the database accepted: {rule.attempt}"
    assert isinstance(exc.orig, getattr(psycopg2.errors, rule.error)), (type(exc.orig), str(exc.orig))
    assert rule.fragment in str(exc.orig)
    assert fingerprint(small_bank) == before


def test_the_application_role_can_move_money_but_not_write_tables(small_bank):
    app = bank.app_engine(small_bank)
    with app.connect() as conn:
        who = conn.exec_driver_sql("SELECT current_user, rolsuper, rolcreaterole, rolcreatedb "
                                   "FROM pg_roles WHERE rolname = current_user").one()
    assert tuple(who) == ("bank_app", False, False, False)
    before = ops.total_money(small_bank)
    booked = ops.call(app, "transfer", source=1, target=2, amount="1.00",
                      at=ops.clock(AS_OF, hour=15), reference="app-can-transfer")
    assert booked > 0
    assert ops.total_money(small_bank) == before
    for statement in ("UPDATE bank.accounts SET balance = 0",
                      "DELETE FROM bank.transactions", "TRUNCATE bank.accounts",
                      "INSERT INTO bank.branches (code, name, city, opened_on) VALUES ('BR999','x','x','2020-01-01')"):
        with pytest.raises(sa.exc.ProgrammingError) as info, app.begin() as conn:
            conn.exec_driver_sql(statement)
        assert isinstance(info.value.orig, psycopg2.errors.InsufficientPrivilege)


def test_a_retried_request_is_booked_once(small_bank):
    app = bank.app_engine(small_bank)
    at = ops.clock(AS_OF, hour=15, seconds=1)
    first = ops.call(app, "transfer", source=3, target=4, amount="2.50", at=at, reference="retry-1")
    second = ops.call(app, "transfer", source=3, target=4, amount="2.50", at=at, reference="retry-1")
    assert first == second
    with small_bank.connect() as conn:
        legs = conn.exec_driver_sql("SELECT count(*) FROM bank.transactions WHERE reference = 'retry-1'").scalar()
    assert legs == 2


def test_lowering_a_minimum_is_allowed_and_raising_to_a_balance_is_too(small_bank):
    with small_bank.begin() as conn:
        lowest = conn.exec_driver_sql("SELECT min(balance) FROM bank.accounts WHERE customer_id = 5").scalar()
        conn.execute(sa.text("UPDATE bank.customers SET min_balance = :m WHERE customer_id = 5"), {"m": lowest})
        conn.exec_driver_sql("UPDATE bank.customers SET min_balance = 0 WHERE customer_id = 5")
    assert ops.ledger_breaks(small_bank).empty
