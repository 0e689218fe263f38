"""%%sql cells: jupysql as the learner role, with its telemetry off and no network at all."""

import json
import subprocess
import sys
import textwrap

import pytest

from fdelib import db
from fdelib.practice import learner

# A kernel-like process: an IPython shell that loads the extension and runs a %%sql cell,
# with an audit hook that records every socket connection the process opens.
PROBE = textwrap.dedent("""
    import json, os, socket, sys
    connects = []
    def audit(event, args):
        if event == "socket.connect":
            sock, address = args
            connects.append([int(sock.family), str(address)])
    sys.addaudithook(audit)
    os.environ.pop("CI", None)     # CI=true also turns telemetry off: prove ours does
    from IPython.testing.globalipapp import start_ipython
    ip = start_ipython()
    ip.run_line_magic("load_ext", "fdelib.practice")
    ip.run_cell("%%sql --save probe\\nSELECT current_user AS who, 1 + 1 AS two")
    from sql.store import store
    from ploomber_core.telemetry import telemetry
    seen = list(connects)
    try:                           # a control: the hook does see a Python-level connection
        socket.create_connection(("127.0.0.1", 9), timeout=1).close()
    except OSError:
        pass
    print(json.dumps({
        "connects": seen, "control": connects[len(seen):],
        "saved": str(store["probe"]),
        "telemetry": telemetry.check_telemetry_enabled(),
        "env": {k: os.environ.get(k) for k in ("PLOOMBER_STATS_ENABLED", "PLOOMBER_VERSION_CHECK_DISABLED")},
        "who": ip.run_cell("%sql SELECT current_user").result.dict()["current_user"][0],
    }))
""")


@pytest.fixture(scope="module")
def probe(engine):
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(next(line for line in done.stdout.splitlines() if line.startswith("{")))


def test_sql_cells_run_as_the_learner(probe):
    assert probe["who"] == "learner"
    assert probe["saved"] == "SELECT current_user AS who, 1 + 1 AS two"


def test_telemetry_is_off_and_nothing_connects_to_the_network(probe):
    import socket

    assert probe["telemetry"] is False
    assert probe["env"] == {"PLOOMBER_STATS_ENABLED": "false", "PLOOMBER_VERSION_CHECK_DISABLED": "true"}
    # every connection made from Python (http.client, requests, posthog...) passes the audit
    # hook; the database's own (libpq, in C) goes over its Unix socket
    network = [c for c in probe["connects"] if c[0] in (socket.AF_INET, socket.AF_INET6)]
    assert network == [], f"connections to the network: {network}"
    assert probe["control"] and probe["control"][0][0] == socket.AF_INET, "the audit hook saw nothing"


def test_the_learner_reads_course_data_but_not_private_columns(engine):
    from fdelib.bank import ddl

    ddl.setup(engine)
    learner.setup(engine)
    with learner.engine().connect() as conn:
        conn.exec_driver_sql("SELECT customer_id, first_name FROM bank.customers LIMIT 1")
        for refused in (
            "SELECT national_id FROM bank.customers",
            "DELETE FROM bank.accounts",
            "CREATE TABLE public.mine (x int)",
            "CREATE SCHEMA mine",
        ):
            with pytest.raises(Exception, match="permission denied"):
                conn.exec_driver_sql(refused)
            conn.rollback()
        conn.exec_driver_sql("CREATE TABLE practice.mine (x int CHECK (x > 0))")
        conn.exec_driver_sql("DROP TABLE practice.mine")
        conn.commit()
    assert learner.unreadable(engine) == []


def test_tables_created_later_are_granted_on_refresh(engine):
    learner.setup(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS workflows")
        conn.exec_driver_sql("DROP TABLE IF EXISTS workflows.practice_probe")
        conn.exec_driver_sql("CREATE TABLE workflows.practice_probe (n int, national_id text)")
    assert "workflows.practice_probe" in learner.unreadable(engine)
    assert learner.refresh(engine) is True
    assert learner.refresh(engine) is False  # nothing new: one catalog query
    assert "workflows.practice_probe" not in learner.unreadable(engine)
    with learner.engine().connect() as conn:
        conn.exec_driver_sql("SELECT n FROM workflows.practice_probe")
        with pytest.raises(Exception, match="permission denied"):
            conn.exec_driver_sql("SELECT national_id FROM workflows.practice_probe")
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE workflows.practice_probe")


def test_a_check_runs_as_the_learner_and_leaves_nothing_behind(engine):
    from fdelib.practice import sqlcheck

    found = sqlcheck.run_query("SELECT current_user AS who, current_schema() AS here", engine=engine)
    assert found.iloc[0]["who"] == "learner"
    assert found.iloc[0]["here"].startswith("practice_check_")
    ran = sqlcheck.run_script("CREATE TABLE kept (x int)", [sqlcheck.Probe("SELECT 1", "accepted", "x")], engine=engine)
    assert ran == (("accepted", ((1,),)),)
    assert db.read_scalar("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'practice_check_%'", engine=engine) == 0
    assert db.read_scalar("SELECT count(*) FROM pg_tables WHERE tablename = 'kept'", engine=engine) == 0
    refused = sqlcheck.run_query("DROP TABLE IF EXISTS bank.accounts; SELECT 1", engine=engine)
    assert isinstance(refused, sqlcheck.SqlError) and refused.sqlstate == "42501"


def test_the_learner_role_is_set_up_by_the_privileged_login_not_the_application_role(engine):
    """The notebooks' role has no CREATEROLE (least privilege): the role is created through the
    set-up login; the application role holds the learner's privileges (to watch and end its
    sessions) but may not become it, and the learner is a member of no role at all."""
    assert learner.setup(engine) is None
    assert db.read_scalar("SELECT rolcreaterole FROM pg_roles WHERE rolname = current_user", engine=engine) is False
    assert db.read_scalar(
        "SELECT pg_has_role(current_user, 'learner', 'USAGE') AND NOT pg_has_role(current_user, 'learner', 'SET')",
        engine=engine,
    )
    assert db.read_scalar("SELECT count(*) FROM pg_auth_members WHERE member = 'learner'::regrole", engine=engine) == 0


def test_without_createrole_checks_run_as_the_application_role(engine, settings, monkeypatch):
    """An external server without a privileged login (no DATABASE_ADMIN_URL) whose application
    role may not create roles: %%sql cells and checks then log in as that role (a check still
    on a fresh session in a scratch schema, rolled back and cleaned up), and say so once."""
    import psycopg2
    import sqlalchemy as sa

    from fdelib import stack
    from fdelib.errors import FdeError
    from fdelib.practice import sqlcheck

    def no_admin(engine, role=None):
        raise FdeError("this needs an administrator connection to the database: set DATABASE_ADMIN_URL")

    learner.setup(engine)
    admin = psycopg2.connect(stack.admin_url(settings).replace("postgresql+psycopg2://", "postgresql://"))
    admin.autocommit = True
    database = settings.postgres_db
    with admin.cursor() as cur:
        cur.execute("DROP ROLE IF EXISTS practice_plain")
        cur.execute("CREATE ROLE practice_plain LOGIN")
        cur.execute(f'GRANT CREATE ON DATABASE "{database}" TO practice_plain')
    plain = sa.create_engine(
        sa.make_url(str(engine.url.render_as_string(hide_password=False))).set(username="practice_plain"),
        poolclass=sa.pool.NullPool,
    )
    monkeypatch.setattr(db, "get_admin_engine", no_admin)
    try:
        assert "may not set up the role learner" in learner.setup(plain)
        assert learner.role(plain) is None
        found = sqlcheck.run_query("SELECT current_user AS who, 2 AS two, current_schema() AS here", engine=plain)
        assert found.iloc[0].tolist()[:2] == ["practice_plain", 2]
        assert found.iloc[0]["here"].startswith("practice_check_")
        left = "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'practice_check%'"
        assert db.read_scalar(left, engine=plain) == 0
    finally:
        plain.dispose()
        with admin.cursor() as cur:
            cur.execute(f'REVOKE CREATE ON DATABASE "{database}" FROM practice_plain')
            cur.execute("DROP ROLE practice_plain")
        admin.close()
