"""A bank created by the previous version (tests/bank/v0: the SQL of main @805fe78) upgrades cleanly.

The old database is built in a database of its own on the session's server, attacked the way
issue 12 attacked main, then ``bank.setup`` of this version runs over it.
"""

import os
import warnings
from pathlib import Path

import pytest
import sqlalchemy as sa

from fdelib import bank, stack
from fdelib.bank import clock, ddl, ops, population

V0 = Path(__file__).with_name("v0")
AS_OF = "2026-01-02"


@pytest.fixture()
def v0_bank(engine, settings):
    """A fresh database holding the previous version's bank, populated, as the notebook role owns it."""
    name = f"bank_v0_{os.getpid()}"
    admin = sa.create_engine(stack.admin_url(settings), isolation_level="AUTOCOMMIT")
    role = engine.url.username
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" OWNER "{role}"')
    old = sa.create_engine(engine.url.set(database=name))
    superuser = sa.create_engine(engine.url.set(database=name, username=admin.url.username))
    try:
        with superuser.begin() as conn:  # the old files ran as the notebook role, which owned it all
            raw = conn.connection.dbapi_connection
            with raw.cursor() as cur:
                cur.execute(f'SET ROLE "{role}"')
                cur.execute((V0 / "schema.sql").read_text())
                cur.execute((V0 / "functions.sql").read_text())
                cur.execute("RESET ROLE")
                cur.execute((V0 / "roles.sql").read_text(), {"password": ddl.app_password()})
                # the old notebook role created bank_app (CREATEROLE), which made it bank_app's admin
                cur.execute(f'GRANT bank_app TO "{role}" WITH ADMIN TRUE, INHERIT FALSE, SET FALSE')
        population.load(old, population.generate(60, seed=5, as_of=AS_OF))
        yield old
    finally:
        old.dispose()
        superuser.dispose()
        ddl.dispose_app_engines()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def test_nan_minted_by_the_old_version_is_found_and_refused_from_now_on(v0_bank):
    app = ddl.app_engine(v0_bank)
    at = clock.course_time(AS_OF, hour=10)
    # the attack, as it worked on main: NaN in, a million out, nothing noticed
    with app.begin() as conn:
        conn.execute(sa.text("SELECT bank.deposit(1, 'NaN', :at, 'v0-1')"), {"at": at})
        conn.execute(sa.text("SELECT bank.transfer(1, 2, 1000000, :at, 'v0-2')"), {"at": at})
        conn.execute(sa.text("SELECT bank.withdraw(2, 1000000, :at, 'v0-3')"), {"at": at})
    assert ops.ledger_breaks(v0_bank).empty  # the old audit is blind to it
    assert not ops.total_money(v0_bank).is_finite()

    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        bank.setup(v0_bank)  # does not fail ...
    messages = [str(w.message) for w in said if issubclass(w.category, ddl.BankIntegrityWarning)]
    assert len(messages) == 1 and "(3 row(s) with NaN or Infinity money" in messages[0]  # ... but says so
    assert "accounts_balance_finite" in messages[0] and "transactions_balance_after_finite" in messages[0]

    breaks = ops.ledger_breaks(v0_bank)  # and the audit now lists the rows
    nan_rows = breaks[breaks["check_name"] == "amounts are finite"]
    assert set(nan_rows["detail"].str.split(":").str[0]) == {"ledger row", "account"}
    assert len(nan_rows[nan_rows["detail"].str.startswith("account:")]) == 1  # account 1
    unvalidated = breaks.loc[breaks["check_name"] == "check not validated", "detail"].str.split().str[0]
    assert set(unvalidated) == {
        "accounts_balance_finite",
        "transactions_amount_finite",
        "transactions_balance_after_finite",
    }

    # the checks are enforced for new rows although not validated: NaN is refused from now on
    with pytest.raises(sa.exc.DBAPIError, match="must be a finite number"), app.begin() as conn:
        conn.execute(sa.text("SELECT bank.deposit(3, 'NaN', 'v0-4')"))

    bank.populate(v0_bank, customers=60, seed=5, as_of=AS_OF)  # replacing the data validates them
    assert ops.ledger_breaks(v0_bank).empty
    with v0_bank.connect() as conn:
        assert (
            conn.exec_driver_sql(
                "SELECT count(*) FROM pg_constraint WHERE connamespace = 'bank'::regnamespace AND NOT convalidated"
            ).scalar()
            == 0
        )


def test_an_old_bank_gets_a_new_owner_and_every_new_check(v0_bank):
    with v0_bank.begin() as conn:  # before: the notebooks' role owns the bank and can switch its rules off
        assert (
            conn.exec_driver_sql(
                "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'bank.transactions'::regclass"
            ).scalar()
            == "fde"
        )
        conn.exec_driver_sql("ALTER TABLE bank.transactions DISABLE TRIGGER transactions_append_only")
        conn.exec_driver_sql("ALTER TABLE bank.transactions ENABLE TRIGGER transactions_append_only")
        assert (
            conn.exec_driver_sql(
                "SELECT count(*) FROM pg_auth_members WHERE member = current_user::regrole"
                " AND roleid = 'bank_app'::regrole AND admin_option"
            ).scalar()
            == 1
        )
    bank.setup(v0_bank)
    with v0_bank.connect() as conn:
        owners = set(
            conn.exec_driver_sql(
                "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'bank'"
                " UNION SELECT relowner::regrole::text FROM pg_class WHERE relnamespace = 'bank'::regnamespace"
                " UNION SELECT proowner::regrole::text FROM pg_proc WHERE pronamespace = 'bank'::regnamespace"
            ).scalars()
        )
        memberships = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_auth_members WHERE member = current_user::regrole"
            " AND roleid IN ('bank_app'::regrole, 'bank_owner'::regrole)"
        ).scalar()
    assert owners == {"bank_owner"} and memberships == 0
    with pytest.raises(sa.exc.ProgrammingError, match="must be owner of table transactions"), v0_bank.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE bank.transactions DISABLE TRIGGER transactions_append_only")
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), ddl.app_engine(v0_bank).begin() as conn:
        conn.exec_driver_sql("SELECT national_id FROM bank.customers")
    with v0_bank.connect() as conn:
        checks = set(
            conn.exec_driver_sql(
                "SELECT conname FROM pg_constraint WHERE connamespace = 'bank'::regnamespace "
                "AND right(conname, 7) = '_finite' AND convalidated"
            ).scalars()
        )
    assert checks == {
        "customers_min_balance_finite",
        "accounts_balance_finite",
        "loans_principal_finite",
        "loans_annual_rate_finite",
        "loans_outstanding_finite",
        "transactions_amount_finite",
        "transactions_balance_after_finite",
    }
    assert ops.ledger_breaks(v0_bank).empty


def test_backdating_and_infinity_from_the_old_version_are_found_and_impossible_from_now_on(v0_bank):
    app = ddl.app_engine(v0_bank)
    with v0_bank.begin() as conn:
        conn.exec_driver_sql("UPDATE bank.accounts SET closed_on = '2026-01-01' WHERE account_id IN (10, 12)")
    # the attacks, as they worked on main: a closed account credited by backdating, an account frozen
    with app.begin() as conn:
        conn.execute(sa.text("SELECT bank.deposit(10, 5, '2025-12-31 12:00+00', 'v0-back')"))
        conn.execute(sa.text("SELECT bank.deposit(11, 5, 'infinity', 'v0-inf')"))
    with pytest.raises(sa.exc.DBAPIError, match="before the previous one"), app.begin() as conn:
        conn.execute(sa.text("SELECT bank.deposit(11, 5, :at, 'v0-frozen')"), {"at": clock.course_time(AS_OF)})

    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        bank.setup(v0_bank)
    message = " ".join(str(w.message) for w in said if issubclass(w.category, ddl.BankIntegrityWarning))
    assert "transactions_booked_at_sane" in message and "1 booked at an impossible time" in message

    with v0_bank.connect() as conn:  # one signature per operation: the ones that took a time are gone
        overloads = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_proc WHERE pronamespace = 'bank'::regnamespace"
            " AND proname IN ('deposit', 'withdraw', 'transfer', 'pay_loan')"
        ).scalar()
    assert overloads == 4
    for statement in (
        "SELECT bank.deposit(12, 5, '2025-12-31 12:00+00'::timestamptz, 'v0-back-2')",
        "SELECT bank.deposit(13, 5, 'infinity'::timestamptz, 'v0-inf-2')",
    ):
        with pytest.raises(sa.exc.ProgrammingError, match="does not exist"), app.begin() as conn:
            conn.execute(sa.text(statement))
    _, refused = ops.attempt(app, "deposit", source=12, amount="5")  # closed is closed now
    assert refused is not None and "is closed since" in refused.message

    breaks = ops.ledger_breaks(v0_bank)  # the frozen account is visible, and honestly still frozen
    assert breaks.loc[breaks["check_name"] == "booking time is sane", "detail"].tolist() == ["booked at infinity"]
    _booking, refused = ops.attempt(app, "deposit", source=11, amount="5")
    assert refused is not None and refused.message.startswith("cannot book at infinity")


def test_an_old_ledger_takes_interest_after_the_upgrade_and_setup_again_changes_nothing(v0_bank):
    from fdelib.bank import interest

    with v0_bank.connect() as conn:  # the old kind check knows no 'loan_interest'
        assert (
            "loan_interest"
            not in conn.exec_driver_sql(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'transactions_kind_check'"
            ).scalar()
        )
    bank.setup(v0_bank)
    shape = (
        "SELECT conname, pg_get_constraintdef(oid), xmin::text FROM pg_constraint"
        " WHERE conrelid = 'bank.transactions'::regclass ORDER BY conname"
    )
    with v0_bank.connect() as conn:
        before = conn.exec_driver_sql(shape).all()
    charges = interest.catch_up(v0_bank)
    assert (charges["outcome"] == "charged").sum() > 0
    bank.setup(v0_bank)  # again: the widened checks are not dropped and re-added
    with v0_bank.connect() as conn:
        assert conn.exec_driver_sql(shape).all() == before
    assert ops.ledger_breaks(v0_bank).empty
