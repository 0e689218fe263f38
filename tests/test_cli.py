"""The fde command as a learner meets it: one-line errors, honest exit codes."""

import os
import socket
import subprocess
import sys

import nbformat
import pytest


def fde(*args: str, env: dict | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fdelib.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def one_error_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith("fde: error: ")
    return lines[0]


def test_unknown_notebook():
    assert "no notebook named 'start_her'" in one_error_line(fde("run", "start_her"))


def test_malformed_and_unknown_parameters():
    assert "bad parameter 'seed'" in one_error_line(fde("run", "00_start_here", "-p", "seed"))
    assert "'sed' is not declared" in one_error_line(fde("run", "00_start_here", "-p", "sed=1"))


def test_busy_port_for_lab():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert f"port {port} is busy" in one_error_line(fde("lab", "--port", str(port)))


def test_reset_needs_confirmation_when_not_interactive():
    assert "add --yes" in one_error_line(fde("reset"))


def test_status_tells_the_truth(engine):
    result = fde("status")
    assert result.returncode == 0, result.stderr
    assert "running" in result.stdout and "18.6" in result.stdout and "offline" in result.stdout


def test_list_and_failing_run_names_notebook_and_cell(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("as_of = '2026-01-02'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("1 / 0")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "notebooks").mkdir()
    nbformat.write(nb, tmp_path / "notebooks" / "broken.ipynb")
    env = {"FDE_PROJECT_ROOT": str(tmp_path), "FDE_RUNS_DIR": str(tmp_path / "runs")}
    assert fde("run", "--list", env=env).stdout.split() == ["broken.ipynb"]
    result = fde("run", env=env)
    assert result.returncode == 1
    assert "FAILED broken.ipynb failed in cell 1 (In [2]) `1 / 0`: ZeroDivisionError" in result.stderr
    assert "0 passed, 1 failed" in result.stdout
    assert (tmp_path / "runs" / "latest" / "index.html").is_file()


def test_up_starts_the_workflow_engine_and_down_stops_it():
    import json
    import shutil
    import tempfile

    home = tempfile.mkdtemp(prefix="fde-cli-", dir="/tmp")
    with socket.socket() as sock:  # its own engine port: the session's engine holds FDE_ENGINE_PORT
        sock.bind(("127.0.0.1", 0))
        env = {"FDE_HOME": home, "FDE_ENGINE_PORT": str(sock.getsockname()[1])}
    try:
        up = fde("up", env=env)
        assert up.returncode == 0, up.stderr
        assert f"workflow engine ready: http://127.0.0.1:{env['FDE_ENGINE_PORT']}/api" in up.stdout
        with open(os.path.join(home, "conductor.json")) as f:
            state = json.load(f)
        status = fde("status", env=env)
        assert f"local engine running: {state['url']}" in status.stdout
        assert_private(home)
        down = fde("down", env=env)
        assert "local workflow engine stopped" in down.stdout and "PostgreSQL stopped" in down.stdout
        import psutil

        gone = not psutil.pid_exists(state["pid"]) or psutil.Process(state["pid"]).status() == psutil.STATUS_ZOMBIE
        assert gone
        assert "local engine not running" in fde("status", env=env).stdout
    finally:
        fde("down", env=env)
        shutil.rmtree(home, ignore_errors=True)


def assert_private(home: str) -> None:
    """$FDE_HOME and what the stack put there (logs, state, locks) are the user's alone."""
    import stat
    from pathlib import Path

    root = Path(home)
    assert stat.S_IMODE(root.stat().st_mode) == (0o711 if os.geteuid() == 0 else 0o700)
    seen = set()
    for path in root.rglob("*"):
        if root / "pgdata" in path.parents:
            continue  # PostgreSQL's own (pgdata itself is checked)
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"
        seen.add(path.relative_to(root).as_posix())
    assert {"pgdata", "conductor.log", "conductor.json", "logs", "logs/workers.log"} <= seen


SECRET = "Sup3rSecret-42"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://learner:{SECRET}@127.0.0.1:{{port}}/course",
        f"postgresql://learner@127.0.0.1:{{port}}/course?sslmode=disable&password={SECRET}",
        f"host=127.0.0.1 port={{port}} user=learner password={SECRET} dbname=course",
    ],
)
def test_status_and_up_never_print_a_password(url, tmp_path):
    env = {
        "DATABASE_URL": url.format(port=free_port()),
        "FDE_HOME": str(tmp_path / "home"),
        "CONDUCTOR_SERVER_URL": f"http://worker:{SECRET}@127.0.0.1:9/api",
    }
    status, up = fde("status", env=env), fde("up", env=env)
    assert status.returncode != 0 and up.returncode == 2
    for result in (status, up):
        said = result.stdout + result.stderr
        assert SECRET not in said and "learner" in said and "***" in said, said


def test_psql_gets_the_password_from_its_environment_not_its_command_line():
    from fdelib.cli import psql_command

    for url in (
        f"postgresql+psycopg2://learner:{SECRET}@db:5432/course?sslmode=require",
        f"postgresql+psycopg2://learner@db:5432/course?password={SECRET}&sslmode=require",
    ):
        argument, env = psql_command(url)
        assert argument == "postgresql://learner@db:5432/course?sslmode=require"
        assert env["PGPASSWORD"] == SECRET
    argument, env = psql_command("postgresql+psycopg2://fde@/fde?host=/tmp/x/pgdata")
    assert (argument == "postgresql://fde@/fde?host=%2Ftmp%2Fx%2Fpgdata" and "PGPASSWORD" not in env) or env.get(
        "PGPASSWORD"
    ) == os.environ.get("PGPASSWORD")
