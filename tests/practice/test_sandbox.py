"""The learner's sandbox holds: every attack found on the text-guarded check, replayed on a
real PostgreSQL through the path a notebook's ``check(...)`` takes, judged by what the
database shows afterwards (pg_stat_activity, pg_locks, pg_namespace, privileges), not by
messages alone.

Most attacks run twice: through ``check("latest_close")`` as a notebook does (the text
guard's friendly message included), and with the text guard switched off, to show that the
database itself holds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

from fdelib import db
from fdelib.practice import exercises, learner, sandbox, sqlcheck

APP = "fde"  # the application role (conftest's settings: POSTGRES_USER's default)


@pytest.fixture(scope="module")
def course(engine, settings):
    """The course's schemas that matter here: the bank (national ids, sequences), the
    workflow engine's schema, and the learner role."""
    from fdelib import bank
    from fdelib.conductor import store

    assert settings.postgres_user == APP
    bank.setup(engine)
    db.run_sql_file(store.SCHEMA_SQL, engine)
    assert learner.setup(engine) is None
    learner.refresh(engine)
    return engine


@pytest.fixture
def fast(monkeypatch):
    """A check's deadline of 1 s (the limits are what is tested, not their length)."""
    monkeypatch.setattr(sandbox, "DEADLINE", 1.0)
    monkeypatch.setattr(sandbox, "GRACE", 1.0)


@pytest.fixture(params=["through check()", "text guard off"])
def run(request, course, monkeypatch):
    """Run an answer as the learner: ``run(sql)`` -> rows or SqlError; afterwards, assert that
    nothing of it is left."""
    before = _learner_pids(course)
    if request.param == "text guard off":
        monkeypatch.setattr(sqlcheck, "forbidden", lambda sql: None)

    def go(sql: str):
        if request.param == "through check()":
            outcome = _check("latest_close", sql)
            assert outcome.status != "passed", outcome.message
        return sqlcheck.run_query(sql, engine=course)

    yield go
    assert_nothing_left(course, before)


def _check(exercise_id: str, sql: str):
    """The notebook's path from the answer cell's saved text (what ``%%sql --save`` keeps) on:
    ``check(id)``."""
    from fdelib import practice
    from fdelib.practice import sqlcell

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sqlcell, "saved", {exercise_id: sql}.get)
        return practice.check(exercise_id, {})


def _learner_pids(engine) -> set[int]:
    frame = db.read_frame("SELECT pid FROM pg_stat_activity WHERE usename = 'learner'", engine=engine)
    return set(frame["pid"])


def assert_nothing_left(engine, before: set[int]) -> None:
    """No learner session of a check remains, nor its locks, scratch schema, prepared
    transaction, or anything it created outside ``practice``; the role is still a member of nothing."""
    for _ in range(50):  # (a closed session's backend exits a moment after the close)
        if _learner_pids(engine) <= before:
            break
        time.sleep(0.1)
    assert _learner_pids(engine) <= before, "a check's learner session is still running"
    assert (
        db.read_scalar(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE a.usename = 'learner' AND l.locktype = 'advisory'",
            engine=engine,
        )
        == 0
    )
    assert (
        db.read_scalar("SELECT count(*) FROM pg_namespace WHERE nspname ~ '^practice_(check|race)_'", engine=engine)
        == 0
    )
    assert db.read_scalar("SELECT count(*) FROM pg_prepared_xacts", engine=engine) == 0
    outside = db.read_frame(
        "SELECT n.nspname || '.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE pg_get_userbyid(c.relowner) = 'learner' AND n.nspname <> 'practice' "
        "AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast%' "
        "UNION ALL SELECT 'function ' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE pg_get_userbyid(p.proowner) = 'learner' AND n.nspname <> 'practice' "
        "UNION ALL SELECT 'schema ' || nspname FROM pg_namespace "
        "WHERE pg_get_userbyid(nspowner) = 'learner' AND nspname <> 'practice'",
        engine=engine,
    )
    assert outside.empty, list(outside["name"])
    assert db.read_scalar("SELECT count(*) FROM pg_auth_members WHERE member = 'learner'::regrole", engine=engine) == 0


def _as_learner(result) -> None:
    """The SQL was refused, or it ran as the learner (user and session user) all along."""
    if isinstance(result, sqlcheck.SqlError):
        return
    assert isinstance(result, pd.DataFrame)
    assert set(result["who"]) == {"learner"} and set(result["session"]) == {"learner"}, result


WHO = "SELECT current_user AS who, session_user AS session"


# --- the role ------------------------------------------------------------------------------


def test_the_learner_is_a_member_of_nothing_and_creates_nowhere_but_practice(course):
    role = db.read_frame(
        "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolinherit "
        "FROM pg_roles WHERE rolname = 'learner'",
        engine=course,
    ).iloc[0]
    assert not any(role.tolist())
    assert db.read_scalar("SELECT count(*) FROM pg_auth_members WHERE member = 'learner'::regrole", engine=course) == 0
    assert not db.read_scalar("SELECT has_database_privilege('learner', current_database(), 'CREATE')", engine=course)
    creatable = db.read_frame(
        "SELECT nspname FROM pg_namespace WHERE has_schema_privilege('learner', oid, 'CREATE') ORDER BY 1",
        engine=course,
    )
    assert list(creatable["nspname"]) == ["practice"]
    assert not db.read_scalar("SELECT has_schema_privilege('learner', 'conductor', 'USAGE')", engine=course)
    settings = db.read_scalar(
        "SELECT setconfig FROM pg_db_role_setting WHERE setrole = 'learner'::regrole AND setdatabase = 0",
        engine=course,
    )
    for limit in ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout"):
        assert any(s.startswith(limit + "=") for s in settings), settings
    if db.read_scalar("SELECT current_setting('server_version_num')::int", engine=course) >= 140000:
        assert "client_connection_check_interval=1s" in settings


def test_the_learner_logs_in_with_its_own_private_password(course, settings):
    path = settings.home / learner.PASSWORD_FILE
    assert path.is_file() and (path.stat().st_mode & 0o777) == 0o600
    assert learner.password(settings) == path.read_text().strip()
    assert db.read_scalar(
        "SELECT rolpassword IS NOT NULL FROM pg_authid WHERE rolname = 'learner'", engine=db.get_admin_engine(course)
    )
    found = sqlcheck.run_query(WHO + ", current_schema() AS here", engine=course)
    assert found.iloc[0].tolist()[:2] == ["learner", "learner"]
    assert found.iloc[0]["here"].startswith("practice_check_")


@pytest.mark.parametrize(
    "sql",
    [
        f"SET ROLE {APP}; {WHO}",
        f"SET LOCAL ROLE {APP}; {WHO}",
        f"SET SESSION AUTHORIZATION {APP}; {WHO}",
        "SET SESSION AUTHORIZATION postgres; " + WHO,
        f"SELECT set_config('role', '{APP}', true) AS x; {WHO}",
        f"SELECT set_config('role', '{APP}', false) AS x; {WHO}",
        "SELECT set_config('session_authorization', 'postgres', false) AS x; " + WHO,
        f"SET \"role\" = '{APP}'; {WHO}",
        f'SET "ROLE" TO {APP}; {WHO}',
        f"DO $$ BEGIN EXECUTE 'SET ROLE {APP}'; END $$; {WHO}",
        f"DO $$ BEGIN PERFORM set_config('role', '{APP}', false); END $$; {WHO}",
        f"DO $d$ BEGIN EXECUTE format('SET %s = %L', 'role', '{APP}'); END $d$; {WHO}",
        f"CREATE FUNCTION up() RETURNS text LANGUAGE sql SET role = {APP} AS 'SELECT current_user::text'; "
        f"SELECT up() AS who, session_user AS session",
        f"SELECT 1 AS x; /* SET ROLE is hidden here */ SET ROLE {APP}; {WHO}",
        "RESET ROLE; " + WHO,
        "RESET ALL; " + WHO,
        "RESET SESSION AUTHORIZATION; " + WHO,
        "SET ROLE NONE; " + WHO,
        "SET ROLE pg_read_all_data; " + WHO,
    ],
)
def test_role_setting_forms_lead_nowhere(run, sql):
    _as_learner(run(sql))


# --- transaction control hidden from the text ------------------------------------------------


ESCAPES = [
    # a backslash in a standard string: the text guard reads the literal on past the COMMIT
    "SELECT 'a\\' AS x; COMMIT; CREATE TABLE public.escaped (x int); SELECT 'b\\' AS one",
    "SELECT E'it\\'s' AS x; COMMIT; CREATE TABLE public.escaped (x int); SELECT 1 AS one",
    "SELECT E'\\\\' AS x; COMMIT; CREATE SCHEMA escaped; SELECT 1 AS one",
    "SELECT 1 AS x; /* ; */ COMMIT; CREATE TABLE public.escaped (x int); SELECT 1 AS one",
    "SELECT 1 AS x -- ;\n; COMMIT; CREATE FUNCTION public.escaped() RETURNS int LANGUAGE sql AS 'SELECT 1'; SELECT 1",
    "SELECT $q$ it's $q$ AS x; END; CREATE TABLE public.escaped (x int); SELECT 1 AS one",
    "SELECT 1 AS x; ROLLBACK; CREATE TABLE public.escaped (x int); SELECT 1 AS one",
    "DO $$ BEGIN COMMIT; END $$; SELECT 1 AS one",
    "PREPARE TRANSACTION 'kept'; SELECT 1 AS one",
    "CREATE TABLE left_behind (x int); COMMIT; SELECT 1 AS one",
    "COMMIT; BEGIN; CREATE TABLE left_behind (x int); SELECT 1 AS one",
]


@pytest.mark.parametrize("sql", ESCAPES)
def test_transaction_control_hidden_in_literals_comments_and_dollar_quotes(run, course, sql):
    result = run(sql)
    assert isinstance(result, sqlcheck.SqlError), result
    assert db.read_scalar("SELECT to_regclass('public.escaped') IS NULL", engine=course)
    assert db.read_scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'escaped'", engine=course) == 0
    assert db.read_scalar("SELECT count(*) FROM pg_proc WHERE proname = 'escaped'", engine=course) == 0
    # and the next check works as ever
    assert sqlcheck.run_query("SELECT 1 AS one", engine=course).iloc[0]["one"] == 1


# --- time ------------------------------------------------------------------------------------


SLEEPS = [
    "SET statement_timeout = 0; SELECT pg_sleep(600) AS slept",
    "SET statement_timeout = 0; SET client_connection_check_interval = 0; SELECT pg_sleep(600) AS slept",
    "SELECT set_config('statement_timeout', '0', false) AS x; SELECT pg_sleep(600) AS slept",
    "SET LOCAL statement_timeout = 0; SELECT count(*) AS n FROM generate_series(1, 100000000000)",
    # a handler that catches the cancel: the session is terminated GRACE later
    "SET statement_timeout = 0; DO $$ BEGIN LOOP BEGIN PERFORM pg_sleep(600); "
    "EXCEPTION WHEN query_canceled THEN NULL; END; END LOOP; END $$; SELECT 1 AS one",
]


@pytest.mark.parametrize("sql", SLEEPS)
def test_timeouts_switched_off_still_stop_at_the_checks_deadline(run, fast, sql):
    result = run(sql)
    assert isinstance(result, sqlcheck.SqlError) and result.sqlstate == "57014", result
    # (run's teardown: the learner's session is gone from pg_stat_activity)


def test_a_lock_held_by_another_session_stops_at_the_deadline_and_the_holder_keeps_it(run, fast, course):
    with course.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS public.sandbox_locked (x int)")
    learner.refresh(course)
    with course.connect() as holder:
        holder.exec_driver_sql("LOCK TABLE public.sandbox_locked IN ACCESS EXCLUSIVE MODE")
        holder_pid = holder.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        result = run("SET lock_timeout = 0; SET statement_timeout = 0; SELECT x FROM public.sandbox_locked")
        assert isinstance(result, sqlcheck.SqlError) and result.sqlstate == "57014", result
        assert db.read_scalar(
            "SELECT count(*) FROM pg_locks WHERE pid = :pid AND relation = 'public.sandbox_locked'::regclass "
            "AND mode = 'AccessExclusiveLock' AND granted",
            {"pid": holder_pid},
            engine=course,
        )
        holder.rollback()


# --- what outlives a session -------------------------------------------------------------------


def test_session_advisory_locks_end_with_the_check(run, course):
    keys = ("fdelib.practice.learner", "fdelib.bank.setup")
    result = run(
        "SELECT pg_advisory_lock(hashtext('fdelib.practice.learner')) AS a, "
        "pg_advisory_lock(hashtext('fdelib.bank.setup')) AS b, pg_advisory_lock(42) AS c; SELECT 1 AS one"
    )
    assert not isinstance(result, sqlcheck.SqlError), result
    held = db.read_frame(  # no session of the learner's holds an advisory lock any more
        "SELECT l.objid, a.usename FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
        "WHERE l.locktype = 'advisory' AND a.usename = :u",
        {"u": learner.login_role(course)},
        engine=db.get_admin_engine(course),
    )
    assert held.empty, held
    with course.connect() as conn:  # the set-ups' keys: free, or at most briefly held by a set-up running
        for key in keys:
            deadline = time.monotonic() + 30
            while not conn.exec_driver_sql(f"SELECT pg_try_advisory_lock(hashtext('{key}'))").scalar():
                assert time.monotonic() < deadline, f"{key} still held"
                time.sleep(0.1)
        conn.exec_driver_sql("SELECT pg_advisory_unlock_all()")
        conn.commit()
    assert learner.setup(course) is None


def test_course_sequences_are_neither_advanced_nor_set(run, course):
    admin = db.get_admin_engine(course)
    sequences = list(
        db.read_frame(
            "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = 'S' AND n.nspname = ANY(:schemas) ORDER BY 1",
            {"schemas": list(learner.SCHEMAS)},
            engine=admin,
        )["name"]
    )
    assert sequences, "the bank has sequences"

    def state():
        return {s: db.read_scalar(f"SELECT last_value || '/' || is_called FROM {s}", engine=admin) for s in sequences}

    before = state()
    for name in sequences:
        for sql in (
            f"SELECT nextval('{name}') AS n",
            f"SELECT setval('{name}', 1) AS n",
            f"SELECT setval('{name}', 999999, true) AS n",
            f"ALTER SEQUENCE {name} RESTART; SELECT 1 AS n",
        ):
            result = run(sql)
            assert isinstance(result, sqlcheck.SqlError) and result.sqlstate == "42501", (sql, result)
    assert state() == before


# --- what the learner may not see or touch -------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT name FROM conductor.workflow_defs",
        "SELECT count(*) AS n FROM conductor.task_defs",
        f"SELECT set_config('role', '{APP}', false) AS x; SELECT count(*) AS n FROM conductor.workflow_defs",
        "SELECT national_id FROM bank.customers",
        "SELECT * FROM bank.customers",
        "SELECT count(national_id) AS n FROM bank.customers",
        "CREATE TABLE public.mine (x int); SELECT 1 AS one",
        "CREATE SCHEMA mine; SELECT 1 AS one",
        "CREATE FUNCTION public.mine() RETURNS int LANGUAGE sql AS 'SELECT 1'; SELECT 1 AS one",
        "DELETE FROM bank.accounts; SELECT 1 AS one",
    ],
)
def test_the_engines_schema_national_ids_and_other_schemas_are_out_of_reach(run, sql):
    result = run(sql)
    assert isinstance(result, sqlcheck.SqlError) and result.sqlstate == "42501", result


def test_other_sessions_cannot_be_terminated_or_cancelled(run, course):
    with course.connect() as victim:
        pid = victim.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        victim.commit()
        for sql in (f"SELECT pg_terminate_backend({pid}) AS done", f"SELECT pg_cancel_backend({pid}) AS done"):
            result = run(sql)
            assert isinstance(result, sqlcheck.SqlError) and result.sqlstate == "42501", result
        assert (
            db.read_scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid", {"pid": pid}, engine=course) == 1
        )
        assert victim.exec_driver_sql("SELECT 1").scalar() == 1


def test_a_script_check_and_a_race_leave_nothing_behind(course):
    before = _learner_pids(course)
    ran = sqlcheck.run_script(
        "CREATE TABLE kept (x int); SELECT pg_advisory_lock(7); COMMIT",
        [sqlcheck.Probe("SELECT 1", "accepted", "x")],
        engine=course,
    )
    assert isinstance(ran, sqlcheck.SqlError)  # the text guard: COMMIT has no place in an answer
    ran = sqlcheck.run_script(
        "CREATE TABLE kept (x int); SELECT pg_advisory_lock(7)",
        [sqlcheck.Probe("SELECT 1", "accepted", "x")],
        engine=course,
    )
    assert ran == (("accepted", ((1,),)),)
    from fdelib.practice.catalog import bank_concurrency as races

    hostile = races.NAIVE.replace("BEGIN", "BEGIN\n    PERFORM set_config('role', 'fde', true);", 1)
    result = races.run_races(hostile, (races.Race("100.00", "30.00"),), engine=course)
    assert isinstance(result, (tuple, sqlcheck.SqlError))
    assert_nothing_left(course, before)


# --- a killed checker ----------------------------------------------------------------------------


CHECKER = textwrap.dedent("""
    import sys
    from fdelib.practice import sqlcheck
    print(sqlcheck.run_query(sys.argv[1]))
""")


@pytest.mark.parametrize(
    "sql, ends",
    [
        ("SELECT pg_sleep(600) AS slept", "by itself"),  # the server's client_connection_check_interval
        (
            "SET statement_timeout = 0; SET client_connection_check_interval = 0; "
            "SET idle_in_transaction_session_timeout = 0; SELECT pg_sleep(600) AS slept",
            "at the next check",  # the learner turned the server's limits off: the sweep ends it
        ),
    ],
)
def test_a_checker_killed_mid_check_leaves_no_session_running(course, sql, ends):
    before = _learner_pids(course)
    checker = subprocess.Popen([sys.executable, "-c", CHECKER, sql], env=dict(os.environ))
    try:
        pid = _wait_for(
            course,
            "SELECT pid FROM pg_stat_activity WHERE usename = 'learner' AND state = 'active' "
            "AND query LIKE '%pg_sleep(600)%' AND NOT (pid = ANY(:before))",
            {"before": list(before)},
        )
        assert pid, "the checker's learner session never started its statement"
    finally:
        checker.send_signal(signal.SIGKILL)
        checker.wait()
    alive = "SELECT pid FROM pg_stat_activity WHERE pid = :pid"
    if ends == "at the next check":
        time.sleep(2)  # (longer than the server's client check interval: it was switched off)
        assert db.read_scalar(alive, {"pid": pid}, engine=course) == pid, "still running before the next check"
        assert sqlcheck.run_query("SELECT 1 AS one", engine=course).iloc[0]["one"] == 1
        assert db.read_scalar(alive, {"pid": pid}, engine=course) is None
    else:
        assert _wait_for(
            course, "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = :pid)", {"pid": pid}
        )
        with course.connect() as conn:  # (its scratch schema: dropped by the next check's sweep)
            sandbox.sweep(conn)
    assert_nothing_left(course, before)


def _wait_for(engine, query: str, params: dict, tries: int = 300):
    """The first value ``query`` returns, polling every 0.1 s (None if it never does)."""
    for _ in range(tries):
        found = db.read_scalar(query, params, engine=engine)
        if found is not None:
            return found
        time.sleep(0.1)
    return None


def test_the_catalogue_still_passes_its_solution(course):
    exercise = exercises.get("latest_close")
    assert _check("latest_close", exercises.solution("latest_close").split("\n", 1)[1]).status == "passed"
    assert exercise.id == "latest_close"
