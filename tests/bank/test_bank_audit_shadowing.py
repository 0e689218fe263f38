"""No role can blind the ledger's audit (issue 24, point 3).

The attack on main: the notebooks' role owned the database, so it could create operators in
``public`` and ``ALTER DATABASE ... SET search_path = public, pg_catalog``; ``bank.ledger_breaks()``
(a SQL function without a search_path of its own, inlined into the caller's query) then compared
balances with the attacker's ``<>`` and reported no break while one existed.

Here a break is planted (an account's balance one unit off its ledger) and every role the course
has — the notebooks' role, ``bank_app``, ``learner`` — tries every shadowing trick it can: functions,
aggregates and operators in ``public`` and in a schema of its own (one named after ``bank_app``, its
``"$user"``), tables and views of the bank's names, casts, ``search_path`` for the session, for its
role, for another role and for the database, ``pg_temp`` objects in its own session. After all of
them, ``bank.ledger_breaks()`` still reports the break, as each role that may call it.
"""

import contextlib

import pytest
import sqlalchemy as sa

from fdelib import bank, db, stack
from fdelib.bank import ddl
from fdelib.practice import learner

AS_OF = "2026-01-02"
BROKEN = 1  # the account whose balance the test puts one unit off its ledger
PATH = "public, pg_catalog"  # what an attacker wants every session to search: public first
SHADOWS = [  # (what it is, how) -- ROLE names the attacking role (and its own schema, SCHEMA)
    (
        "a function in {schema}",
        "CREATE FUNCTION {schema}.attack_false(numeric, numeric) RETURNS boolean"
        " LANGUAGE sql IMMUTABLE AS 'SELECT false'",
    ),
    (
        "operator <> (numeric, numeric) in {schema}",
        "CREATE OPERATOR {schema}.<> (LEFTARG = numeric, RIGHTARG = numeric, FUNCTION = {schema}.attack_false)",
    ),
    (
        "operator = (numeric, numeric) in {schema}",
        "CREATE OPERATOR {schema}.= (LEFTARG = numeric, RIGHTARG = numeric, FUNCTION = {schema}.attack_false)",
    ),
    (
        "operator < (numeric, numeric) in {schema}",
        "CREATE OPERATOR {schema}.< (LEFTARG = numeric, RIGHTARG = numeric, FUNCTION = {schema}.attack_false)",
    ),
    (
        "function coalesce-like format() in {schema}",
        "CREATE FUNCTION {schema}.format(text, numeric, numeric) RETURNS text LANGUAGE sql AS 'SELECT NULL::text'",
    ),
    (
        "aggregate sum(numeric) in {schema}",
        "CREATE AGGREGATE {schema}.sum(numeric) (SFUNC = numeric_larger, STYPE = numeric)",
    ),
    (
        "table accounts in {schema}",
        "CREATE TABLE {schema}.accounts (account_id bigint, customer_id bigint, balance numeric)",
    ),
    (
        "view transactions in {schema}",
        "CREATE VIEW {schema}.transactions AS SELECT 1::bigint AS transaction_id WHERE false",
    ),
]
SESSION_TRICKS = [
    ("temporary table accounts", "CREATE TEMP TABLE accounts (account_id bigint, customer_id bigint, balance numeric)"),
    (
        "temporary function",
        "CREATE FUNCTION pg_temp.attack_false(numeric, numeric) RETURNS boolean"
        " LANGUAGE sql IMMUTABLE AS 'SELECT false'",
    ),
    (
        "operator <> in pg_temp",
        "CREATE OPERATOR pg_temp.<> (LEFTARG = numeric, RIGHTARG = numeric, FUNCTION = pg_temp.attack_false)",
    ),
    ("search_path with pg_temp first", "SET search_path = pg_temp, public, pg_catalog"),
]


def attempt(conn, statement: str) -> str:
    """'accepted', or 'refused: <the server's reason>'; the session goes on either way."""
    try:
        with conn.begin_nested():
            conn.exec_driver_sql(statement)
    except sa.exc.DBAPIError as exc:
        return "refused: " + str(exc.orig).strip().splitlines()[0]
    return "accepted"


def engines(engine) -> dict[str, sa.Engine]:
    assert learner.setup(engine) is None  # the learner's role exists here
    url = engine.url.set(username=learner.ROLE, password=None)
    return {
        "notebooks": engine,
        "bank_app": bank.app_engine(engine),
        "learner": sa.create_engine(url, poolclass=sa.pool.NullPool),
    }


@pytest.fixture(scope="module")
def broken_bank(engine):
    bank.populate(engine, customers=20, seed=5, as_of=AS_OF)
    admin = db.get_admin_engine(engine)  # the superuser: the only one who can write a wrong balance
    with admin.begin() as conn:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")  # no trigger fires
        conn.exec_driver_sql(f"UPDATE bank.accounts SET balance = balance + 1 WHERE account_id = {BROKEN}")
    yield engine
    with admin.begin() as conn:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        conn.exec_driver_sql(f"UPDATE bank.accounts SET balance = balance - 1 WHERE account_id = {BROKEN}")
        conn.exec_driver_sql("DROP SCHEMA IF EXISTS bank_app CASCADE")
        for name in ("attack_false(numeric, numeric)", "format(text, numeric, numeric)"):
            conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS public.{name} CASCADE")
        conn.exec_driver_sql("DROP AGGREGATE IF EXISTS public.sum(numeric)")
        conn.exec_driver_sql("DROP TABLE IF EXISTS public.accounts")
        conn.exec_driver_sql("DROP VIEW IF EXISTS public.transactions")
        for role in (ddl.notebook_role(engine), "bank_app", "learner"):
            conn.exec_driver_sql(f'ALTER ROLE "{role}" RESET search_path')
    with admin.begin() as conn:  # the roles' own settings, as their set-ups make them
        conn.exec_driver_sql("ALTER ROLE bank_app SET search_path = pg_catalog, bank, pg_temp")
    learner.setup(engine)
    engine.dispose()  # no pooled session keeps the attackers' search_path
    bank.app_engine(engine).dispose()


def breaks(conn) -> set[tuple[str, int]]:
    return {(r.check_name, r.id) for r in conn.exec_driver_sql("SELECT check_name, id FROM bank.ledger_breaks()")}


def test_the_application_role_never_looks_in_public_or_its_user_schema(broken_bank):
    with bank.app_engine(broken_bank).connect() as conn:
        path = conn.exec_driver_sql("SHOW search_path").scalar()
    assert path == "pg_catalog, bank, pg_temp"


def test_every_shadowing_trick_of_every_role_leaves_the_break_reported(broken_bank):
    engine = broken_bank
    expected = ("balance = sum of ledger", BROKEN)
    with engine.connect() as conn:
        assert expected in breaks(conn)  # planted
        database = conn.exec_driver_sql("SELECT current_database()").scalar()
    roles = engines(engine)
    outcome: dict[tuple[str, str], str] = {}
    # 1. persistent tricks, each role in turn: objects in public and in a schema of its own,
    #    casts, search_path for its role, another role and the database
    for who, eng in roles.items():
        with eng.connect() as conn:
            if who == "notebooks":  # it may create schemas: one named as bank_app's "$user"
                outcome[(who, 'schema "bank_app" ($user of bank_app)')] = attempt(conn, "CREATE SCHEMA bank_app")
                attempt(conn, "GRANT USAGE ON SCHEMA bank_app TO bank_app")
            for schema in ("public", "bank_app") if who == "notebooks" else ("public",):
                for what, statement in SHADOWS:
                    outcome[(who, what.format(schema=schema))] = attempt(conn, statement.format(schema=schema))
            outcome[(who, "cast numeric AS text")] = attempt(
                conn, "CREATE CAST (numeric AS text) WITH FUNCTION public.attack_false(numeric, numeric)"
            )
            outcome[(who, "ALTER DATABASE SET search_path")] = attempt(
                conn, f'ALTER DATABASE "{database}" SET search_path = {PATH}'
            )
            outcome[(who, "ALTER ROLE itself SET search_path")] = attempt(
                conn, f"ALTER ROLE CURRENT_USER SET search_path = {PATH}"
            )
            for other in sorted(set(roles) - {who, "notebooks"}):
                outcome[(who, f"ALTER ROLE {other} SET search_path")] = attempt(
                    conn, f"ALTER ROLE {other} SET search_path = {PATH}"
                )
            outcome[(who, "ALTER FUNCTION bank.ledger_breaks() SET search_path")] = attempt(
                conn, f"ALTER FUNCTION bank.ledger_breaks() SET search_path = {PATH}"
            )
            outcome[(who, "ALTER FUNCTION bank.ledger_breaks() RESET search_path")] = attempt(
                conn, "ALTER FUNCTION bank.ledger_breaks() RESET search_path"
            )
            conn.commit()
    # 2. in a new session of each role (its role's settings apply), session tricks on top, then the audit
    for eng in roles.values():
        eng.dispose()  # no pooled session from before the role-level settings
    found: dict[str, set | str] = {}
    for who, eng in roles.items():
        with eng.connect() as conn:
            for what, statement in SESSION_TRICKS:
                outcome[(who, what)] = attempt(conn, statement)
            outcome[(who, "SET search_path for the session")] = attempt(conn, f"SET search_path = {PATH}, pg_temp")
            try:
                with conn.begin_nested():
                    found[who] = breaks(conn)
            except sa.exc.DBAPIError as exc:
                found[who] = "refused: " + str(exc.orig).strip().splitlines()[0]
            conn.rollback()
    report = "\n".join(f"{who:<10} {what:<58} {result}" for (who, what), result in outcome.items())
    print(report)
    # the audit still reports the break, as each role that may call it
    assert expected in found["notebooks"] and expected in found["bank_app"], (found, report)
    assert str(found["learner"]).startswith("refused: permission denied") or expected in found["learner"]
    # what no role may do at all
    for who in roles:
        assert outcome[(who, "ALTER DATABASE SET search_path")].startswith("refused: must be owner of database")
        assert outcome[(who, "ALTER FUNCTION bank.ledger_breaks() SET search_path")].startswith("refused")
        assert outcome[(who, "ALTER FUNCTION bank.ledger_breaks() RESET search_path")].startswith("refused")
        assert outcome[(who, "cast numeric AS text")].startswith("refused")
    for who in ("bank_app", "learner"):
        assert all(outcome[(who, what.format(schema="public"))].startswith("refused") for what, _ in SHADOWS), report
        assert outcome[(who, "a function in public")] == "refused: permission denied for schema public"
    assert outcome[("notebooks", "ALTER ROLE bank_app SET search_path")].startswith("refused: permission denied")
    assert outcome[("notebooks", "ALTER ROLE learner SET search_path")].startswith("refused: permission denied")
    assert outcome[("bank_app", "ALTER ROLE learner SET search_path")].startswith("refused: permission denied")
    assert outcome[("learner", "ALTER ROLE bank_app SET search_path")].startswith("refused: permission denied")
    # the notebooks' role could shadow in public and in "bank_app": harmless, as the test shows
    assert outcome[("notebooks", "operator <> (numeric, numeric) in public")] == "accepted"
    assert outcome[("notebooks", "operator <> (numeric, numeric) in bank_app")] == "accepted"


def test_every_bank_function_pins_its_search_path(broken_bank):
    with broken_bank.connect() as conn:
        unpinned = conn.exec_driver_sql(
            "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'bank'::regnamespace"
            " AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search\\_path=pg\\_catalog,%%')"
        ).scalars()
        assert list(unpinned) == []


def test_the_database_is_owned_by_a_nologin_role_and_public_is_closed(broken_bank):
    role = ddl.notebook_role(broken_bank)
    with broken_bank.connect() as conn:
        owner = conn.exec_driver_sql(
            "SELECT r.rolname, r.rolcanlogin FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba"
            " WHERE d.datname = current_database()"
        ).one()
        creators = set(
            conn.exec_driver_sql(
                "SELECT rolname FROM pg_roles WHERE has_schema_privilege(oid, 'public', 'CREATE')"
                " AND NOT rolsuper AND rolname IN ('bank_app', 'bank_owner', 'learner', 'course_owner', %(me)s)",
                {"me": role},
            ).scalars()
        )
        public_can = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_namespace n, aclexplode(n.nspacl) a"
            " WHERE n.nspname = 'public' AND a.grantee = 0 AND a.privilege_type = 'CREATE'"
        ).scalar()
    assert tuple(owner) == (stack.DATABASE_OWNER, False)
    # the notebooks' role keeps CREATE in public (the lessons' tables); course_owner owns public
    assert creators == {role, "course_owner"} and public_can == 0


def test_a_database_of_an_earlier_version_is_handed_to_its_nologin_owner(broken_bank, settings):
    """Before, the notebooks' role owned the database; the next start (and bank.setup) hands it on."""
    engine = broken_bank
    role = ddl.notebook_role(engine)
    admin = db.get_admin_engine(engine)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'ALTER DATABASE "{settings.postgres_db}" OWNER TO "{role}"')
        conn.exec_driver_sql("GRANT CREATE ON SCHEMA public TO PUBLIC")
        conn.exec_driver_sql(f'ALTER DATABASE "{settings.postgres_db}" SET search_path = {PATH}')
    owner_sql = "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
    assert db.read_scalar(owner_sql, engine=engine) == role
    stack.up(settings)  # the embedded server's bootstrap, as at every start
    assert db.read_scalar(owner_sql, engine=engine) == stack.DATABASE_OWNER
    with engine.connect() as conn:
        public_can = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_namespace n, aclexplode(n.nspacl) a"
            " WHERE n.nspname = 'public' AND a.grantee = 0 AND a.privilege_type = 'CREATE'"
        ).scalar()
        database_paths = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase"
            " WHERE d.datname = current_database() AND s.setrole = 0 AND array_to_string(s.setconfig, ',')"
            " LIKE '%%search_path%%'"
        ).scalar()
    assert (public_can, database_paths) == (0, 0)
    with admin.begin() as conn:  # again, this time for bank.setup (the path of DATABASE_ADMIN_URL)
        conn.exec_driver_sql(f'ALTER DATABASE "{settings.postgres_db}" OWNER TO "{role}"')
    bank.setup(engine)
    assert db.read_scalar(owner_sql, engine=engine) == stack.DATABASE_OWNER
    with contextlib.closing(engine.connect()) as conn:
        assert attempt(conn, f'ALTER DATABASE "{settings.postgres_db}" SET search_path = {PATH}').startswith(
            "refused: must be owner of database"
        )
        assert attempt(conn, "CREATE TABLE public.still_mine (x int)") == "accepted"  # the lessons' tables
        conn.rollback()
