"""The database owns the booking clock (issue 12, point 2).

The attacks on main, where callers passed the booking time: a closed account debited or credited
by backdating; a booking at 'infinity' freezing an account for good; and a request a millisecond
behind the last booking refused. Now no operation takes a time, the bank stamps each booking
after its locks are held (course clock or wall clock), and only the bank's owner sets the clock.
"""

import datetime as dt

import psycopg2.errors
import pytest
import sqlalchemy as sa

from fdelib import bank
from fdelib.bank import clock, ops
from fdelib.errors import FdeError

AS_OF = "2026-01-02"


@pytest.fixture()
def clocked_bank(engine):
    bank.populate(engine, customers=60, seed=17, as_of=AS_OF)
    yield engine
    bank.populate(engine, customers=60, seed=17, as_of=AS_OF)  # leave a course clock behind


def booked_at(engine, transaction_id):
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT booked_at FROM bank.transactions WHERE transaction_id = :t"), {"t": transaction_id}
        ).scalar_one()


def refusal(engine, statement, params=None):
    with pytest.raises(sa.exc.DBAPIError) as info, engine.begin() as conn:
        conn.execute(sa.text(statement), params or {})
    return info.value.orig


def test_no_operation_takes_a_time_and_no_old_signature_is_left(clocked_bank):
    with clocked_bank.connect() as conn:
        signatures = dict(
            conn.exec_driver_sql(
                "SELECT proname, array_agg(pg_get_function_identity_arguments(oid)) FROM pg_proc"
                " WHERE pronamespace = 'bank'::regnamespace"
                " AND proname IN ('deposit', 'withdraw', 'transfer', 'pay_loan')"
                " GROUP BY proname"
            ).all()
        )
    assert signatures == {
        "deposit": ["p_account bigint, p_amount numeric, p_reference text"],
        "withdraw": ["p_account bigint, p_amount numeric, p_reference text"],
        "transfer": ["p_from bigint, p_to bigint, p_amount numeric, p_reference text"],
        "pay_loan": ["p_loan bigint, p_amount numeric, p_reference text"],
    }
    app = bank.app_engine(clocked_bank)
    for when in ("'2025-12-01 09:00+00'::timestamptz", "'infinity'::timestamptz", "now() - interval '1 ms'"):
        refused = refusal(app, f"SELECT bank.deposit(1, 10, {when}, 'backdate')")
        assert isinstance(refused, psycopg2.errors.UndefinedFunction)
    with pytest.raises(FdeError, match="operations take no time"):
        ops.call(app, "deposit", source=1, amount="10", at=dt.datetime(2025, 12, 1))


def test_a_closed_account_stays_closed(clocked_bank):
    with bank.ddl.owner_engine(clocked_bank).begin() as conn:  # the owner closes account 5 the day before
        conn.exec_driver_sql("UPDATE bank.accounts SET closed_on = '2026-01-01' WHERE account_id = 5")
    app = bank.app_engine(clocked_bank)
    for operation, params in (
        ("deposit", {"source": 5}),
        ("withdraw", {"source": 5}),
        ("transfer", {"source": 5, "target": 6}),
        ("transfer", {"source": 6, "target": 5}),
    ):
        booking, refused = ops.attempt(app, operation, amount="1.00", **params)
        assert booking is None and refused.error == "ObjectNotInPrerequisiteState", refused
        assert "is closed since 2026-01-01" in refused.message


def test_bookings_get_the_course_clock_and_only_the_owner_sets_it(clocked_bank):
    app = bank.app_engine(clocked_bank)
    expected = clock.course_time(AS_OF)
    assert clock.now(clocked_bank) == expected
    debit = ops.call(app, "transfer", source=1, target=2, amount="3.00", reference="clock-1")
    assert booked_at(clocked_bank, debit) == booked_at(clocked_bank, debit + 1) == expected
    refused = refusal(app, "SELECT bank.set_course_clock('2020-01-01 00:00+00')")
    assert isinstance(refused, psycopg2.errors.InsufficientPrivilege)
    refused = refusal(app, "UPDATE bank.course_clock SET course_time = '2020-01-01 00:00+00'")
    assert isinstance(refused, psycopg2.errors.InsufficientPrivilege)


@pytest.mark.parametrize(
    "when, says",
    [
        ("infinity", "must be a time from 1970 to 2199"),
        ("-infinity", "must be a time from 1970 to 2199"),
        ("2200-01-01 00:00+00", "must be a time from 1970 to 2199"),
        ("1969-12-31 23:59+00", "from 1970"),
        ("2025-01-01 00:00+00", "before the last booking"),
    ],
)
def test_the_course_clock_refuses_impossible_times(clocked_bank, when, says):
    with pytest.raises(sa.exc.DBAPIError, match=says):
        clock.set_course(clocked_bank, when)
    assert clock.now(clocked_bank) == clock.course_time(AS_OF)


def test_the_wall_clock_is_read_after_the_locks_and_never_runs_backwards(clocked_bank):
    app = bank.app_engine(clocked_bank)
    clock.use_wall_clock(clocked_bank)
    with clocked_bank.connect() as conn:
        before = conn.exec_driver_sql("SELECT clock_timestamp()").scalar()
    first = ops.call(app, "deposit", source=7, amount="1.00")
    with clocked_bank.connect() as conn:
        after = conn.exec_driver_sql("SELECT clock_timestamp()").scalar()
    assert before <= booked_at(clocked_bank, first) <= after
    # an account whose last booking is ahead of the wall clock (a clock stepped back, or a later
    # as_of): the next booking is stamped no earlier than it, so the chain never breaks
    ahead = after + dt.timedelta(days=2)
    with bank.ddl.owner_engine(clocked_bank).begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO bank.transactions (account_id, kind, amount, balance_after, booked_at)"
                " SELECT 8, 'deposit', 1, balance + 1, :at FROM bank.accounts WHERE account_id = 8;"
                " UPDATE bank.accounts SET balance = balance + 1 WHERE account_id = 8"
            ),
            {"at": ahead},
        )
    later = ops.call(app, "transfer", source=8, target=7, amount="1.00", reference="clock-ahead")
    assert booked_at(clocked_bank, later) == booked_at(clocked_bank, later + 1) == ahead
    assert ops.ledger_breaks(clocked_bank).empty
