"""The bank exercises' own machinery (02_bank_db/03_constraints and 04_concurrency): the value
answer is what the real bank says, and the two-session race tells a safe withdrawal from a
lost update. (Blank, wrong answers and solutions in a kernel: test_practice_exercises.py.)"""

import pytest

from fdelib import bank, db
from fdelib.practice import exercises
from fdelib.practice.catalog import bank_concurrency as races

# the statement of exercise `refusing_constraint`, as its question shows it
COUNTERPART_FREE_CREDIT = (
    "INSERT INTO bank.transactions (account_id, kind, amount, balance_after, booked_at) "
    "SELECT 1, 'transfer_in', 25.00, balance + 25.00, now() FROM bank.accounts WHERE account_id = 1"
)

SAFE = races.NAIVE.replace("WHERE account_id = p_account;\n    IF", "WHERE account_id = p_account FOR UPDATE;\n    IF")


def test_the_refusing_constraint_answer_is_the_one_the_bank_names(engine):
    import psycopg2

    bank.populate(engine, customers=100, seed=1, as_of="2026-01-02")
    with bank.owner_engine(engine).connect() as conn, conn.begin() as tx:
        with pytest.raises(Exception) as caught:
            conn.exec_driver_sql(COUNTERPART_FREE_CREDIT)
        tx.rollback()
    error = caught.value.orig
    assert isinstance(error, psycopg2.errors.CheckViolation)
    assert error.diag.constraint_name == exercises.get("refusing_constraint").answer


def test_a_read_then_write_without_a_lock_loses_an_update_and_a_locked_one_does_not(engine):
    two_thirties, two_sixties = races.Race("100.00", "30.00"), races.Race("100.00", "60.00")
    lost = races.run_races(races.sqlcheck.strip_magic(races.NAIVE), (two_thirties, two_sixties), engine)
    safe = races.run_races(races.sqlcheck.strip_magic(SAFE), (two_thirties, two_sixties), engine)
    # B waited for A's row lock in both, but only the locked read saw A's withdrawal
    assert lost == (("70.00", "70.00", True, "70.00"), ("40.00", "40.00", True, "40.00"))
    assert safe == (("70.00", "40.00", True, "40.00"), ("40.00", "refused", True, "40.00"))
    assert (
        db.read_scalar("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'practice_race_%'", engine=engine) == 0
    )  # the scratch schemas are gone


@pytest.mark.parametrize(
    "script",
    [
        "DROP TABLE accounts",
        "SELECT 1",
        "CREATE TABLE t (x int); CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    ],
)
def test_the_race_installs_functions_only(engine, script):
    result = races.run_races(script, (races.Race("100.00", "30.00"),), engine)
    assert isinstance(result, races.sqlcheck.SqlError)
    assert "CREATE FUNCTION withdraw(...) only" in result.message
