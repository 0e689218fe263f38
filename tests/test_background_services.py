"""fdelib.services: start, find, check and stop a background service — real processes on
real ports (a Python HTTP server stands in for Conductor)."""

import json
import os
import socket
import sys

import psutil
import pytest

from fdelib import services
from fdelib.errors import StackError


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _http_service(home, port: int, **extra) -> services.Service:
    options = {
        "name": "demo",
        "label": "demo server",
        "home": home,
        "command": (sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"),
        "marker": "http.server",
        "url": f"http://127.0.0.1:{port}",
        "port": port,
        "health": f"http://127.0.0.1:{port}/",
        "port_setting": "DEMO_PORT",
        "start_timeout": 30,
        "stop_timeout": 5,
        "info": {"version": "1"},
    }
    return services.Service(**{**options, **extra})


def test_start_status_and_stop(tmp_path):
    port = _free_port()
    service = _http_service(tmp_path, port)
    said = []
    state = services.start(service, said.append)
    try:
        assert state["port"] == port and state["version"] == "1"
        assert services.running(service)["pid"] == state["pid"]
        assert said and said[-1].startswith("demo server ready after")
        assert json.loads(service.state_file.read_text())["pid"] == state["pid"]
        assert service.log_file == tmp_path / "logs" / "demo.log" and service.log_file.exists()
        assert oct(service.state_file.stat().st_mode & 0o777) == "0o600"
        assert os.getpgid(state["pid"]) == state["pid"]  # its own process group
        assert services.status_line(service).startswith(f"demo server running: http://127.0.0.1:{port} (pid ")
        assert services.start(service)["pid"] == state["pid"]  # already serving: the same process
    finally:
        assert services.stop(service) is True
    assert not psutil.pid_exists(state["pid"]) or psutil.Process(state["pid"]).status() == psutil.STATUS_ZOMBIE
    assert services.running(service) is None and not service.state_file.exists()
    assert services.status_line(service, "nothing here") == "nothing here"
    assert services.stop(service) is False


def test_a_reused_pid_is_not_the_service(tmp_path):
    service = _http_service(tmp_path, _free_port())
    service.state_file.parent.mkdir(parents=True)
    # this test process runs, but it is not the service: wrong start time, no marker
    service.state_file.write_text(json.dumps({"pid": os.getpid(), "started": 1.0}))
    assert services.alive(service) is None
    assert services.stop(service) is False  # and it is never signalled
    assert psutil.Process(os.getpid()).is_running()


def test_a_taken_port_names_the_setting(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(StackError, match=r"cannot listen on 127\.0\.0\.1:\d+.*set DEMO_PORT"):
            services.start(_http_service(tmp_path, port))


def test_a_service_that_exits_at_start_names_its_log(tmp_path):
    service = _http_service(
        tmp_path, _free_port(), command=(sys.executable, "-c", "import sys; print('http.server boom'); sys.exit(3)")
    )
    with pytest.raises(StackError, match=r"demo server exited at start \(code 3\); see .*demo\.log"):
        services.start(service)
    assert "http.server boom" in service.log_file.read_text()
    assert not service.state_file.exists()


def test_a_service_that_never_answers_is_stopped(tmp_path):
    port = _free_port()
    service = _http_service(
        tmp_path,
        port,
        command=(sys.executable, "-c", "import time; time.sleep(60)  # http.server"),
        start_timeout=1,
    )
    with pytest.raises(StackError, match="did not answer within 1 s"):
        services.start(service)
    assert services.alive(service) is None and not service.state_file.exists()
