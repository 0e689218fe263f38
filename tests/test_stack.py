"""The embedded server's lifecycle: attach, killed clients, a killed server, races."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from fdelib import config, db, stack


def python(code: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        text=True,
        stdout=subprocess.PIPE,
        env={**os.environ, **(env or {})},
        **kwargs,
    )


@pytest.fixture()
def private_settings():
    """A second embedded server of its own, for tests that kill or race servers."""
    home = Path(tempfile.mkdtemp(prefix="fde-stack-", dir="/tmp"))
    settings = config.Settings.from_env(environ={"FDE_HOME": str(home)}, env_file=Path("/nonexistent"))
    yield settings
    try:
        stack.down(settings)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_application_role_is_not_a_superuser(engine):
    assert db.read_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user", engine=engine) is False
    # nor CREATEROLE: it could administer the roles it creates (any non-superuser role before
    # PostgreSQL 16); the bank's roles are created through the bootstrap superuser instead
    assert (
        db.read_scalar("SELECT rolcreaterole OR rolcreatedb FROM pg_roles WHERE rolname = current_user", engine=engine)
        is False
    )
    status = stack.status()
    assert status.running and status.kind == "embedded" and status.version.startswith("18")


def test_course_database_commits_without_waiting_for_the_disk(engine):
    assert db.read_scalar("SHOW synchronous_commit") == "off"  # the course database's default
    assert db.read_scalar("SHOW fsync") == "on"  # consistency is never traded


def test_killed_kernel_leaves_server_usable_and_status_true(engine, settings):
    client = python("""
        from fdelib import db
        engine = db.get_engine()
        conn = engine.connect()
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS t_killed (x int)")
        conn.commit()
        conn.exec_driver_sql("LOCK TABLE t_killed IN ACCESS EXCLUSIVE MODE")
        print("locked", flush=True)
        import time; time.sleep(60)
    """)
    assert client.stdout.readline().strip() == "locked"
    assert client.pid in stack.status().attached_pids
    client.send_signal(signal.SIGKILL)
    client.wait()

    stack.up(settings)  # attaching again prunes the dead pid
    handles = json.loads((settings.pgdata / ".handle_pids.json").read_text())
    assert client.pid not in handles
    status = stack.status()
    assert status.running and client.pid not in status.attached_pids
    # the dead client's lock went with its connection
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
        conn.exec_driver_sql("LOCK TABLE t_killed IN ACCESS EXCLUSIVE MODE")


def test_killed_server_is_reported_stale_then_restarted(private_settings):
    stack.up(private_settings)
    pid = stack.status(private_settings).pid
    os.kill(pid, signal.SIGKILL)
    psutil.Process(pid).wait(10) if psutil.pid_exists(pid) else None
    status = stack.status(private_settings)
    assert status.state == "stale" and f"pid {pid}" in status.detail
    deadline = time.monotonic() + 30
    while True:  # orphaned backends may hold shared memory for a moment
        try:
            stack.up(private_settings)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    status = stack.status(private_settings)
    assert status.running and status.pid != pid
    assert stack.down(private_settings) is True
    assert stack.status(private_settings).state == "stopped"
    assert stack.down(private_settings) is False


def test_two_processes_starting_at_once_share_one_server(private_settings):
    env = {"FDE_HOME": str(private_settings.home), "FDE_ENV_FILE": "none"}
    code = """
        from fdelib import stack, db
        print(stack.up(), db.read_scalar("SELECT pg_backend_pid() > 0"), flush=True)
    """
    procs = [python(code, env) for _ in range(3)]
    outputs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert len(set(outputs)) == 1 and outputs[0].endswith("True")
    postmasters = [
        p
        for p in psutil.process_iter(["cmdline"])
        if p.info["cmdline"]
        and str(private_settings.pgdata) in " ".join(p.info["cmdline"])
        and "-D" in p.info["cmdline"]
    ]
    assert len(postmasters) == 1


def test_reset_gives_an_empty_database(private_settings):
    url = stack.up(private_settings)
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE keep_me (x int)")
    engine.dispose()
    url = stack.reset(private_settings)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT to_regclass('keep_me')").scalar() is None
    engine.dispose()


def test_sigkilled_jupyter_kernel_then_running_again_works(engine, settings):
    """The issue's scenario literally: a real kernel attached, SIGKILLed, then a new run."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")
    outputs: list = []
    client.execute_interactive(
        "import os; from fdelib import db\ndb.read_scalar('select 1'); print(os.getpid())",
        timeout=60,
        output_hook=outputs.append,
    )
    kernel_pid = int(next(m["content"]["text"] for m in outputs if m["msg_type"] == "stream"))
    assert kernel_pid in stack.status().attached_pids
    os.kill(kernel_pid, signal.SIGKILL)
    client.stop_channels()
    manager.cleanup_resources()
    psutil.wait_procs([psutil.Process(kernel_pid)], timeout=10) if psutil.pid_exists(kernel_pid) else None

    status = stack.status()  # the truth right after the kill: server up, kernel gone
    assert status.running and kernel_pid not in status.attached_pids
    again = python("from fdelib import db; print(db.read_scalar('select 41 + 1'))")
    assert again.communicate(timeout=120)[0].strip() == "42"
