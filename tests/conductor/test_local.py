"""The local engine as a background process: a stable address across restarts.

Each test runs its own engine (a private ``$FDE_HOME`` for its state file, a free port,
the session's database), so killing it never disturbs the engine other tests share.
"""

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conductor.client.http.models import StartWorkflowRequest, TaskDef
from conductor.client.worker.worker_task import worker_task
from conductor.client.workflow.conductor_workflow import ConductorWorkflow
from conductor.client.workflow.task.simple_task import SimpleTask

from fdelib import conductor, config, db
from fdelib.conductor import local
from fdelib.conductor.workers import Workers
from fdelib.errors import ConfigError, StackError

TASK = "restart_echo"


@worker_task(task_definition_name=TASK, poll_interval_millis=20)
def echo(n: int) -> dict:
    return {"n": n, "pid": os.getpid()}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def private(settings, tmp_path):
    """Settings of an engine of its own: its state in tmp_path, a free port."""
    mine = dataclasses.replace(settings, home=tmp_path / "home", engine_port=free_port())
    yield mine
    local.stop(mine)


def wait_for(clients, workflow_id, timeout=900):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = clients.get_workflow_client().get_workflow(workflow_id, include_tasks=False)
        if run.status not in ("RUNNING", "PAUSED"):
            return run
        time.sleep(0.05)
    raise AssertionError(f"workflow {workflow_id} still {run.status} after {timeout} s")


def echo_once(clients, n):
    request = StartWorkflowRequest(name="restart_echo_flow", version=1, input={"n": n})
    run = wait_for(clients, clients.get_workflow_client().start_workflow(request))
    assert run.status == "COMPLETED", run.reason_for_incompletion
    return run.output


def test_the_port_is_a_setting_with_a_default_apart_from_compose(tmp_path):
    defaults = config.Settings.from_env(environ={}, env_file=tmp_path / "none", project_root=tmp_path)
    assert defaults.engine_port == 8127 != int(config.DEFAULTS["CONDUCTOR_PORT"])
    chosen = config.Settings.from_env(
        environ={"FDE_ENGINE_PORT": "9123"}, env_file=tmp_path / "none", project_root=tmp_path
    )
    assert chosen.engine_port == 9123 and local.url(chosen) == "http://127.0.0.1:9123/api"
    for bad in ("http", "0", "70000", "-1"):
        with pytest.raises(ConfigError, match="FDE_ENGINE_PORT"):
            config.Settings.from_env(
                environ={"FDE_ENGINE_PORT": bad}, env_file=tmp_path / "none", project_root=tmp_path
            )


def test_the_session_engine_is_not_on_the_default_port(settings):
    """Tests never rely on a fixed port: the root conftest picked a free one."""
    assert os.environ["FDE_ENGINE_PORT"] == str(settings.engine_port)
    assert conductor.server_url(settings) == local.url(settings)


def test_a_port_taken_by_another_program_is_an_error_naming_the_setting(private):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", private.engine_port))
        squatter.listen()
        with pytest.raises(
            StackError,
            match=rf"127\.0\.0\.1:{private.engine_port}: another program "
            r"listens on it\. Set FDE_ENGINE_PORT to a free port",
        ):
            local.start(private)
    assert local.running(private) is None and not (private.home / local.STATE_FILE).exists()


def test_a_port_taken_by_another_engine_says_so(private, tmp_path):
    first = local.start(private)
    other = dataclasses.replace(private, home=tmp_path / "other-home")
    with pytest.raises(StackError, match="another fdelib workflow engine serves it"):
        local.start(other)
    assert local.running(private)["url"] == first  # the first one is untouched


def test_a_new_port_setting_moves_the_running_engine(private):
    old = local.start(private)
    moved = dataclasses.replace(private, engine_port=free_port())
    new = local.start(moved)
    assert new == local.url(moved) != old
    assert local.port_holder(private.engine_port) is None  # the old port is free again


def test_after_sigkill_fde_up_restarts_the_engine_at_the_same_address_and_workers_reconnect(private):
    url = local.start(private)
    assert url == local.url(private)
    clients = conductor.clients(private)
    clients.get_metadata_client().register_task_def(
        TaskDef(name=TASK, retry_count=2, retry_delay_seconds=0, response_timeout_seconds=5)
    )
    flow = ConductorWorkflow(executor=conductor.executor(private), name="restart_echo_flow", version=1)
    task = SimpleTask(TASK, "echo")
    task.input_parameters.update(n="${workflow.input.n}")
    flow >> task
    flow.output_parameters({"n": "${echo.output.n}", "pid": "${echo.output.pid}"})
    flow.timeout_seconds(1200)  # a busy machine may take a while to spawn the workers
    flow.register(overwrite=True)

    with Workers([__name__], settings=private) as workers:
        before = sorted(workers.pids())
        assert echo_once(clients, 1)["n"] == 1
        killed = json.loads((private.home / local.STATE_FILE).read_text())["pid"]
        os.kill(killed, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while local.running(private) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert local.running(private) is None  # it is down; its state file remains

        env = {
            **os.environ,
            "FDE_HOME": str(private.home),
            "FDE_ENGINE_PORT": str(private.engine_port),
            "DATABASE_URL": db.get_engine().url.render_as_string(hide_password=False),
        }
        up = subprocess.run(
            [sys.executable, "-m", "fdelib.cli", "up"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        assert up.returncode == 0, up.stderr
        assert f"workflow engine ready: {url}" in up.stdout  # the same address
        restarted = local.running(private)
        assert restarted["url"] == url and restarted["pid"] != killed

        answer = echo_once(clients, 2)  # the old clients, the old workers
        assert answer["n"] == 2 and answer["pid"] in before
        assert sorted(workers.pids()) == before  # no worker was restarted


def test_workers_start_returns_once_the_processes_have_polled_the_engine(settings):
    with Workers(["fdelib.oms.workers"], tasks=["oms_notify"], settings=settings) as started:
        pids = started.pids()
        assert len(pids) == 1
        polled = os.listdir(started._ready_dir)  # one mark per process, left by its first poll
        assert polled == [f"oms_notify.{pids[0]}"]


def test_workers_of_one_task_type_only(settings):
    with pytest.raises(ValueError, match=r"no @worker_task in fdelib.oms.workers for oms_nothing"):
        Workers(["fdelib.oms.workers"], tasks=["oms_nothing"], settings=settings).start()


def test_workers_started_after_an_environment_change_get_the_new_environment(settings, monkeypatch):
    """Worker processes fork from a fork server, which passes on the environment it started
    with: after DATABASE_URL (or anything) changes, new workers must not serve the old one."""

    def environ_of(pid: int) -> dict[str, str]:
        raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        return dict(item.decode().split("=", 1) for item in raw if b"=" in item)

    seen = []
    for value in ("first", "second"):
        monkeypatch.setenv("FDE_TEST_MARK", value)
        with Workers(["fdelib.oms.workers"], tasks=["oms_notify"], settings=settings) as started:
            seen.append(environ_of(started.pids()[0]).get("FDE_TEST_MARK"))
    assert seen == ["first", "second"]


def test_a_change_workers_do_not_read_keeps_the_fork_server(settings, monkeypatch):
    """The practice magics switch jupysql's telemetry off between two starts of workers in a
    lesson; that alone must not cost a new fork server (its imports are seconds of CPU)."""
    from multiprocessing import forkserver

    from fdelib.conductor import workers
    from fdelib.practice import sqlcell

    assert set(sqlcell.TELEMETRY_OFF) <= workers.NOT_FOR_WORKERS
    servers = []
    for value in ("true", "false"):
        monkeypatch.setenv("PLOOMBER_STATS_ENABLED", value)
        with Workers(["fdelib.oms.workers"], tasks=["oms_notify"], settings=settings):
            servers.append(forkserver._forkserver._forkserver_pid)
    assert servers[0] is not None and servers[0] == servers[1]
