"""Least privilege (issue 12, point 8).

The attack on main: notebooks connected as ``fde``, which owned schema bank, so it could disable
the ledger's triggers (and then write any balance) and replace ``bank.ledger_breaks()`` with one
that finds nothing; and ``bank_app`` read every customer's national id. Now a NOLOGIN role owns
the bank, the notebooks' role can neither become it nor administer it, and national ids are
readable by neither role. (The rule-by-rule refusals are in ``rules.RULES``, section "least
privilege", tried by test_bank_rules.py.)
"""

import psycopg2.errors
import pytest
import sqlalchemy as sa

from fdelib import bank, db
from fdelib.bank import ddl, ops, reports

AS_OF = "2026-01-02"


@pytest.fixture(scope="module")
def guarded_bank(engine):
    bank.populate(engine, customers=50, seed=23, as_of=AS_OF)
    return engine


def refused(engine, statement):
    with pytest.raises(sa.exc.DBAPIError) as info, engine.begin() as conn:
        conn.exec_driver_sql(statement)
    return info.value.orig


def test_a_nologin_role_owns_everything_in_the_bank(guarded_bank):
    with guarded_bank.connect() as conn:
        owners = set(
            conn.exec_driver_sql(
                "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'bank'"
                " UNION SELECT relowner::regrole::text FROM pg_class WHERE relnamespace = 'bank'::regnamespace"
                " UNION SELECT proowner::regrole::text FROM pg_proc WHERE pronamespace = 'bank'::regnamespace"
            ).scalars()
        )
        owner = conn.exec_driver_sql(
            "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls"
            " FROM pg_roles WHERE rolname = 'bank_owner'"
        ).one()
    assert owners == {"bank_owner"}
    assert tuple(owner) == (False, False, False, False, False)


def test_the_notebook_role_is_neither_member_nor_administrator_of_the_bank_roles(guarded_bank):
    role = ddl.notebook_role(guarded_bank)
    with guarded_bank.connect() as conn:
        who = conn.exec_driver_sql("SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user").one()
        memberships = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid"
            " WHERE m.member = current_user::regrole AND r.rolname IN ('bank_owner', 'bank_app')"
        ).scalar()
        can = conn.exec_driver_sql(
            "SELECT pg_has_role('bank_owner', 'USAGE'), pg_has_role('bank_owner', 'MEMBER'),"
            " pg_has_role('bank_app', 'MEMBER')"
        ).one()
    assert role == "fde" and tuple(who) == (False, False)
    assert memberships == 0 and tuple(can) == (False, False, False)


@pytest.mark.parametrize(
    "statement, says",
    [
        ("ALTER TABLE bank.transactions DISABLE TRIGGER ALL", "must be owner of table transactions"),
        ("ALTER TABLE bank.accounts DISABLE TRIGGER accounts_balance_explained", "must be owner of table accounts"),
        ("DROP FUNCTION bank.ledger_breaks()", "must be owner of function bank.ledger_breaks"),
        (
            "CREATE OR REPLACE FUNCTION bank.ledger_breaks() RETURNS TABLE (check_name text, id bigint, detail text)"
            " LANGUAGE sql AS 'SELECT NULL::text, NULL::bigint, NULL::text WHERE false'",
            "permission denied for schema bank",
        ),
        ("ALTER FUNCTION bank.transfer(bigint, bigint, numeric, text) SECURITY INVOKER", "must be owner of function"),
        ("CREATE TABLE bank.mine (x int)", "permission denied for schema bank"),
        ("TRUNCATE bank.transactions", "permission denied for table transactions"),
        (
            "INSERT INTO bank.course_clock (course_time) VALUES ('2020-01-01') ON CONFLICT (only_row) DO UPDATE"
            " SET course_time = excluded.course_time",
            "permission denied for table course_clock",
        ),
        ("SELECT bank.deposit(1, 1000000)", "permission denied for function deposit"),
        ("SET ROLE bank_owner", "permission denied to set role"),
        ("GRANT bank_owner TO CURRENT_USER", "permission denied to grant role"),
        ("ALTER ROLE bank_owner LOGIN PASSWORD 'x'", "permission denied to alter role"),
        ("CREATE ROLE my_own_owner", "permission denied to create role"),
    ],
)
def test_the_notebook_role_cannot_touch_the_rules_or_the_money(guarded_bank, statement, says):
    error = refused(guarded_bank, statement)
    assert isinstance(error, psycopg2.errors.InsufficientPrivilege) and says in str(error)


def test_national_ids_are_masked_for_the_application_and_the_notebooks(guarded_bank):
    app = bank.app_engine(guarded_bank)
    for who in (app, guarded_bank):
        assert isinstance(refused(who, "SELECT * FROM bank.customers"), psycopg2.errors.InsufficientPrivilege)
        assert isinstance(refused(who, "SELECT national_id FROM bank.customers"), psycopg2.errors.InsufficientPrivilege)
        masked = db.read_frame(
            "SELECT customer_id, national_id FROM bank.customers_masked ORDER BY customer_id LIMIT 3", engine=who
        )
        assert masked["national_id"].str.fullmatch(r"\*\*\*-\*\*-\d{4}").all()
    with ddl.owner_engine(guarded_bank).connect() as conn:  # the owner still holds the real ones
        real = conn.exec_driver_sql("SELECT national_id FROM bank.customers ORDER BY customer_id LIMIT 1").scalar()
    assert real.endswith(masked["national_id"].iloc[0][-4:]) and real[:3].isdigit()


def test_what_the_lessons_do_as_the_notebook_role_still_works(guarded_bank):
    assert reports.table_sizes(guarded_bank).loc["customers", "rows"] == 50
    assert len(reports.customer_accounts(guarded_bank, 1)) >= 1
    assert len(reports.loan_book(guarded_bank)) > 0 and len(reports.staffing(guarded_bank)) > 0
    assert ops.ledger_breaks(guarded_bank).empty
    privileges = bank.rules.privileges(guarded_bank, ddl.notebook_role(guarded_bank))
    assert privileges.loc["customers", "select"] == "all but national_id"
    assert not privileges.loc["accounts", "update"] and not privileges.loc["set_course_clock()", "execute"]
    assert privileges.loc["ledger_breaks()", "execute"] and privileges.loc["customers_masked", "select"] == "yes"
