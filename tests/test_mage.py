"""Project 2 on Mage: the Mage project, its environment, headless runs, the UI server.

The tests that need Mage's environment create it once per session (``fdelib.mage.env.ensure``:
kept in the project's ``.venv-mage/`` across runs, rebuilt only when ``mage/requirements.lock``
changes) — never skipped. Each headless run is a real ``mage run`` against the session's
PostgreSQL and this process's Alpha Vantage stand-in.
"""

import ast
import json
import os
import shutil
import socket
import stat
import subprocess
from pathlib import Path

import pytest
import requests

from fdelib import etl
from fdelib.etl import alphavantage, stub
from fdelib.localapi import LocalAPI, Response
from fdelib.mage import PIPELINE, PROJECT, blocks, env, headless, process, server, views

ROOT = Path(__file__).resolve().parents[1]
SYMBOL, MONTH, INTERVAL, SEED = "ACME", "2025-11", "5min", 7
STEPS = {
    "fetch_intraday": "fetch",
    "export_raw": "load_raw",
    "deduplicate": "deduplicate",
    "aggregate_daily": "aggregate_daily",
    "export_daily": "export",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def mage_env(settings):
    """Mage's environment, created by the project's own files (once; kept across sessions)."""
    return env.ensure(settings)


def product_state(symbol: str = SYMBOL) -> tuple[dict, list]:
    """What a failed run must not change: the rows, and the record of every earlier run (as values:
    a failed run's NULL counts turn the log's integer columns nullable)."""
    runs = etl.run_log().query("status != 'failed'").drop(columns="error")
    return views.rows(symbol, INTERVAL), [tuple(map(int, r[5:])) + tuple(r[:5]) for r in runs.itertuples(index=False)]


def same(left, right) -> bool:
    if isinstance(left, tuple):
        return same(left[0], right[0]) and left[1] == right[1]
    return views.same(left, right)


# --- the Mage project ---------------------------------------------------------------------------


def test_the_pipeline_is_the_five_steps_in_order():
    graph = views.graph()
    assert list(graph.nodes) == list(STEPS)
    assert list(graph.edges) == list(zip(list(STEPS)[:-1], list(STEPS)[1:], strict=False))
    assert [graph.nodes[n]["type"] for n in graph] == [
        "data_loader",
        "data_exporter",
        "transformer",
        "transformer",
        "data_exporter",
    ]
    meta = views.metadata()
    assert meta["run_pipeline_in_one_process"] is True  # the blocks share the run's transaction
    assert meta["variables"] == {"symbol": SYMBOL, "month": MONTH, "interval": INTERVAL, "seed": SEED}


@pytest.mark.parametrize("block", list(STEPS))
def test_each_block_calls_fdelib_etl_and_holds_no_pipeline_logic(block):
    table = views.blocks().set_index("block")
    source = (ROOT / "mage" / table.loc[block, "file"]).read_text()
    tree = ast.parse(source)
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"fdelib", "fdelib.mage", "mage_ai.data_preparation.decorators"}
    calls = {
        f"{n.func.value.id}.{n.func.attr}"
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name)
    }
    assert f"etl.{STEPS[block]}" in calls
    assert STEPS[block] in etl.__all__  # a public name of fdelib.etl
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert len(functions) == 1 and len(functions[0].body) <= 3, "a block is a call, not a pipeline"
    assert "sa.text" not in source and "SELECT" not in source.upper().replace("SELECTED", "")


def test_the_project_keeps_mage_state_outside_the_repository():
    meta = (ROOT / "mage" / "metadata.yaml").read_text()
    assert "help_improve_mage: false" in meta
    environ = process.environment()
    assert environ["MAGE_DATA_DIR"] == str(process.mage_data_dir())
    assert not Path(environ["MAGE_DATA_DIR"]).is_relative_to(ROOT)


def test_requirements_are_pinned_and_locked():
    lock = {
        line.split("==")[0].lower(): line.split("==")[1].split(" ")[0]
        for line in (ROOT / "mage" / "requirements.lock").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    assert lock["mage-ai"] == "0.9.80"
    for line in (ROOT / "mage" / "requirements.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            assert lock[name.lower()] == version, name
    assert "mage-ai==0.9.80" in (ROOT / "mage" / "requirements.in").read_text()


# --- what a Mage process is told ------------------------------------------------------------------


def test_the_environment_names_the_database_and_the_stand_in(settings, monkeypatch):
    from fdelib import stack

    monkeypatch.setenv("PYTHONPATH", "/somewhere/else")
    environ = process.environment(settings, stand_in_url="http://127.0.0.1:1")
    assert environ["DATABASE_URL"] == stack.up(settings)  # the socket URL of the running server
    assert environ[process.STAND_IN_URL] == "http://127.0.0.1:1"
    assert environ["FDE_ENV_FILE"] == "none" and environ["FDE_MODE"] == "offline"
    assert environ["FDE_DATA_DIR"] == str(settings.data_dir)
    assert "PYTHONPATH" not in environ and "ALPHAVANTAGE_API_KEY" not in environ


def test_live_mode_passes_the_key_and_no_stand_in(settings):
    import dataclasses

    live = dataclasses.replace(settings, mode="live", alphavantage_api_key="KEY123")
    environ = process.environment(live, stand_in_url="http://127.0.0.1:1")
    assert environ["FDE_MODE"] == "live" and environ["ALPHAVANTAGE_API_KEY"] == "KEY123"
    assert process.STAND_IN_URL not in environ


# --- the environment ------------------------------------------------------------------------------


def test_an_environment_built_from_other_files_is_not_ready(settings, tmp_path, monkeypatch):
    monkeypatch.setenv("FDE_MAGE_VENV", str(tmp_path / "venv"))
    assert not env.ready(settings)
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "venv" / "bin" / "python").symlink_to("/nonexistent/python3")
    (tmp_path / "venv" / env.STAMP).write_text(env.fingerprint(settings))
    assert not env.ready(settings), "its interpreter is gone"
    (tmp_path / "venv" / "bin" / "python").unlink()
    (tmp_path / "venv" / "bin" / "python").symlink_to(os.sys.executable)
    assert env.ready(settings)
    (tmp_path / "venv" / env.STAMP).write_text("built-from-another-lock")
    assert not env.ready(settings)
    assert "out of date" in env.describe(settings)


def test_mage_environment_has_mage_and_imports_fdelib_etl(mage_env, settings):
    python = env.bin_dir(settings) / "python"
    code = (
        "import importlib.metadata as m, fdelib.etl, fdelib.mage.blocks, sqlalchemy, pandas; "
        "print(m.version('mage-ai'), m.version('ipykernel'), fdelib.etl.__file__)"
    )
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, env=process.environment(settings))
    assert done.returncode == 0, done.stderr[-800:]
    version, ipykernel, where = done.stdout.split()
    assert (version, ipykernel) == ("0.9.80", "6.15.0")  # Mage's own pins, not the course's
    assert Path(where).is_relative_to(settings.project_root)  # the notebooks' fdelib code


# --- headless runs ---------------------------------------------------------------------------------


def test_mage_run_gives_the_same_rows_and_files_as_fdelib_etl(mage_env, engine):
    etl.reset(engine)
    stub.configure(seed=SEED)
    reference = etl.run_month(SYMBOL, MONTH, INTERVAL)
    expected, expected_files = views.rows(SYMBOL, INTERVAL), views.exported(reference["files"])
    reference_log = etl.run_log().drop(columns="run_id")

    etl.reset(engine)
    stub.configure(seed=SEED)
    outcome = headless.run(SYMBOL, MONTH, INTERVAL, seed=SEED)
    produced = views.rows(SYMBOL, INTERVAL)
    assert {k: len(v) for k, v in produced.items()} == {"raw": 1465, "clean": 1465, "daily": 19}
    assert same(produced, expected)
    assert outcome["files"] == {kind: str(path) for kind, path in reference["files"].items()}
    assert views.compare_files(expected_files, views.exported(outcome["files"]))["identical"].all()
    assert etl.run_log().drop(columns="run_id").equals(reference_log)  # the same run record
    assert outcome["daily_rows"] == 19 and outcome["raw_rows"] == 1465 and outcome["api_calls"] == 1


def test_mage_run_of_a_faulty_feed_matches_fdelib_etl(mage_env, engine):
    """Bars sent twice in one answer, an answer overlapping the month before, a missing window:
    the raw table keeps every copy, both months are rebuilt — as run_month does."""
    faults = ["duplicates", "missing"]
    etl.reset(engine)
    stub.configure(faults, seed=SEED)
    etl.run_month("GLOBX", MONTH, INTERVAL)
    expected = views.rows("GLOBX", INTERVAL)

    etl.reset(engine)
    stub.configure(faults, seed=SEED)
    outcome = headless.run("GLOBX", MONTH, INTERVAL, seed=SEED)
    produced = views.rows("GLOBX", INTERVAL)
    assert len(produced["raw"]) > len(produced["clean"])  # the copies are kept raw
    assert produced["daily"]["session"].astype(str).str[:7].nunique() == 2  # the month before too
    assert same(produced, expected)
    assert outcome["duplicates"] > 0 and outcome["gaps"] > 0
    stub.configure(seed=SEED)


def test_runs_fork_from_one_warm_interpreter_that_a_timeout_leaves_serving(mage_env, engine):
    """Mage's imports are paid once per process (fdelib.mage.warm): two runs, one interpreter.
    A run out of time is stopped with what it started, and the next run is served as before."""
    from fdelib.mage import warm

    etl.reset(engine)
    stub.configure(seed=SEED)
    headless.run(SYMBOL, MONTH, INTERVAL, seed=SEED)
    server = warm._SERVERS[os.getpid()]
    with pytest.raises(headless.MageRunFailed, match=r"did not finish within 0.2 s"):
        headless.run(SYMBOL, MONTH, INTERVAL, seed=SEED, timeout=0.2)
    assert warm._SERVERS[os.getpid()] is server and server.alive()
    outcome = headless.run(SYMBOL, MONTH, INTERVAL, seed=SEED)
    assert warm._SERVERS[os.getpid()] is server
    assert outcome["daily_rows"] == 19
    assert etl.run_log().iloc[-1]["status"] == "succeeded"


def test_a_warm_interpreter_killed_during_a_run_is_named_and_replaced(mage_env, engine):
    """The interpreter dies under a run: the run fails saying so (not "did not finish in time"),
    its work is rolled back, and the next run gets a new interpreter."""
    import signal
    import threading
    import time

    from fdelib.mage import warm

    etl.reset(engine)
    stub.configure(seed=SEED)
    headless.run(SYMBOL, MONTH, INTERVAL, seed=SEED)
    before = views.rows(SYMBOL, INTERVAL)
    server = warm._SERVERS[os.getpid()]
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    failures = []

    def run():
        try:
            headless.run(SYMBOL, MONTH, INTERVAL, seed=SEED)
        except headless.MageRunFailed as exc:
            failures.append(str(exc))

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 60
    while not children.read_text().split() and time.monotonic() < deadline:
        time.sleep(0.01)  # until the run's process is forked
    os.kill(server.process.pid, signal.SIGKILL)
    thread.join(120)
    assert failures and "the warm Mage interpreter ended during the run" in failures[0]
    assert views.same(views.rows(SYMBOL, INTERVAL), before)  # rolled back (its run may stay 'running')
    outcome = headless.run(SYMBOL, MONTH, INTERVAL, seed=SEED)
    assert warm._SERVERS[os.getpid()] is not server and outcome["daily_rows"] == 19


def test_a_changed_environment_gets_a_new_warm_interpreter_the_stand_in_does_not(monkeypatch, tmp_path):
    """Mage reads its settings when imported: another environment needs another interpreter.
    The stand-in's address is read by the blocks in each run, so it may differ run to run."""
    from fdelib.mage import warm

    started = []

    class Recorded:  # stands in for the interpreter: only the decision is under test here
        def __init__(self, python, project, env, log):
            self.key = (python, project, warm._shared(env))
            started.append(self)

        def alive(self):
            return True

        def close(self):
            pass

    monkeypatch.setattr(warm, "_Server", Recorded)
    monkeypatch.setattr(warm, "_SERVERS", {})
    base = {"MAGE_DATA_DIR": "/m", process.STAND_IN_URL: "http://127.0.0.1:1/query"}
    log = tmp_path / "log"
    first = warm._server("py", "proj", base, log)
    assert warm._server("py", "proj", {**base, process.STAND_IN_URL: "http://127.0.0.1:2/query"}, log) is first
    assert warm._server("py", "proj", {**base, "DATABASE_URL": "postgresql://other"}, log) is not first
    assert len(started) == 2


ERROR_PAYLOAD = {
    "Error Message": "Invalid API call. Please retry or visit the documentation "
    "(https://www.alphavantage.co/documentation/) for TIME_SERIES_INTRADAY."
}


@pytest.fixture
def error_api():
    """Alpha Vantage answering as it does for a symbol it does not know: HTTP 200, an error payload."""
    with LocalAPI(lambda request: Response.json(ERROR_PAYLOAD), "alphavantage-errors") as api:
        yield api


def test_an_error_payload_fails_the_mage_run_and_changes_nothing(mage_env, engine, error_api):
    etl.reset(engine)
    stub.configure(seed=SEED)
    headless.run(SYMBOL, MONTH, INTERVAL, seed=SEED)  # a product to keep
    before = product_state()
    with pytest.raises(alphavantage.ApiError) as fdelib_error:  # what fdelib says of that answer
        etl.fetch(alphavantage.Client(error_api.url, "demo"), SYMBOL, MONTH, INTERVAL)

    with pytest.raises(headless.MageRunFailed) as failed:
        headless.run(SYMBOL, MONTH, INTERVAL, seed=SEED, stand_in=error_api.url)
    assert failed.value.block == "fetch_intraday" and failed.value.error == "ApiError"
    assert str(failed.value) == f"Mage run of {PIPELINE} failed in block fetch_intraday: {fdelib_error.value}"
    assert same(product_state(), before)
    last = etl.run_log().iloc[-1]
    assert last["status"] == "failed" and last["error"] == f"ApiError: {fdelib_error.value}"
    assert len(error_api.requests) == 2


def test_a_malformed_answer_fails_the_mage_run_and_changes_nothing(mage_env, engine):
    etl.reset(engine)
    stub.configure(seed=SEED)
    headless.run(SYMBOL, MONTH, INTERVAL, seed=SEED)
    before = product_state()
    stub.configure(["malformed"], seed=SEED)
    try:
        with pytest.raises(
            headless.MageRunFailed,
            match=r"failed in block fetch_intraday: ACME 5min: bar "
            r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d lacks 4. close",
        ):
            headless.run(SYMBOL, MONTH, INTERVAL, seed=SEED)
    finally:
        stub.configure(seed=SEED)
    assert same(product_state(), before)
    assert etl.run_log().iloc[-1]["status"] == "failed"


def test_the_outcome_is_read_from_mage_runs_output():
    ok = blocks.RESULT + json.dumps({"run_id": 3, "daily_rows": 19, "files": {}})
    assert headless.outcome(0, f"noise\n{ok}\n", "")["daily_rows"] == 19
    failed = blocks.FAILED + json.dumps(
        {
            "block": "deduplicate",
            "run_id": 3,
            "error": "MalformedPayload",
            "message": "ACME 5min: bar 2025-11-03 09:30:00: bad",
        }
    )
    with pytest.raises(headless.MageRunFailed, match="failed in block deduplicate: ACME 5min: bar") as info:
        headless.outcome(1, f"[fde] run 3\n{failed}\n", "Traceback ...\nfdelib.etl.MalformedPayload: ...")
    assert info.value.block == "deduplicate"
    with pytest.raises(headless.MageRunFailed, match="exited 1: ModuleNotFoundError: No module named 'fdelib'"):
        headless.outcome(
            1, "", "Traceback (most recent call last):\n  File x\nModuleNotFoundError: No module named 'fdelib'\n"
        )
    with pytest.raises(headless.MageRunFailed, match="without the last block's outcome"):
        headless.outcome(0, "Pipeline run completed.\n", "")


def test_a_block_run_alone_says_what_to_do():
    with pytest.raises(Exception, match=r"run 42 is not open in this process .* run the whole pipeline"):
        blocks.current({"run_id": 42}, "deduplicate")


def test_months_of_an_answer_that_overlaps_the_month_before():
    run = blocks.BlockRun.__new__(blocks.BlockRun)
    run.run = etl.Run(None, 1, SYMBOL, "2026-01", INTERVAL)
    run.payload = {f"Time Series ({INTERVAL})": {"2026-01-02 09:30:00": {}, "2025-12-31 15:55:00": {}}}
    assert run.months() == ["2025-12", "2026-01"]
    run.payload = {f"Time Series ({INTERVAL})": {}}
    assert run.months() == ["2026-01"]


# --- Mage's data is private ------------------------------------------------------------------------

NOBODY = 65534
# a Python another user may run (the course's may sit in root's folder): the system's
OTHERS_PYTHON = next((p for p in ("/usr/bin/python3", "/usr/local/bin/python3") if os.path.exists(p)), None)
_READ = """
import json, os, sys
seen = {}
for path in sys.argv[1:]:
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            open(path, "rb").read(1)
        seen[path] = "read"
    except OSError as exc:
        seen[path] = type(exc).__name__
print(json.dumps(seen))
"""


def read_as_another_user(*paths: Path) -> dict[str, str]:
    """What the user ``nobody`` (another local user) gets from reading each path: "read" or the error."""
    done = subprocess.run(
        [OTHERS_PYTHON, "-I", "-c", _READ, *map(str, paths)],
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return {Path(k).name: v for k, v in json.loads(done.stdout).items()}


@pytest.mark.skipif(
    os.geteuid() != 0 or OTHERS_PYTHON is None,
    reason="reading as another user needs root (setuid) and /usr/bin/python3",
)
def test_mage_data_is_private_from_its_first_start(mage_env, settings):
    """A fresh $FDE_HOME's first `fde mage`: its folder 0700 and mage-ai.db 0600 at once, and
    another local user can read neither (not even with the folders opened to them)."""
    server.stop(settings)
    data = process.mage_data_dir(settings)
    aside = data.with_name("mage.kept-by-test")
    shutil.rmtree(aside, ignore_errors=True)
    if data.exists():
        data.rename(aside)
    try:
        server.start(settings, port=free_port())
        database = data / PROJECT / "mage-ai.db"
        assert database.is_file()
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        assert stat.S_IMODE(database.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(database.stat().st_mode) == 0o600
        opened = [
            str(path.relative_to(settings.home))
            for path in [*data.rglob("*"), settings.home / "mage.log", settings.home / server.STATE_FILE]
            if not path.is_symlink() and stat.S_IMODE(path.lstat().st_mode) & 0o077
        ]
        assert opened == []
        control = settings.home / "readable-by-all.txt"  # the reader can read what is open to it
        control.write_text("open")
        control.chmod(0o644)
        seen = read_as_another_user(control, data, database, data / "login.json")
        assert seen == {
            "readable-by-all.txt": "read",
            "mage": "PermissionError",
            "mage-ai.db": "PermissionError",
            "login.json": "PermissionError",
        }
        for folder in (data, database.parent):  # even with the folders passable, the files stay shut
            folder.chmod(0o711)
        assert read_as_another_user(database, data / "login.json") == {
            "mage-ai.db": "PermissionError",
            "login.json": "PermissionError",
        }
    finally:
        for folder in (data, data / PROJECT):
            if folder.exists():
                folder.chmod(0o700)
        (settings.home / "readable-by-all.txt").unlink(missing_ok=True)
        server.stop(settings)
        if aside.exists():
            shutil.rmtree(data, ignore_errors=True)
            aside.rename(data)


def test_files_an_earlier_version_left_open_are_closed(settings):
    data = process.mage_data_dir(settings)
    (data / PROJECT).mkdir(parents=True, exist_ok=True)
    old = data / PROJECT / "old-open-file.txt"
    old.write_text("x")
    old.chmod(0o644)
    data.chmod(0o755)
    try:
        assert process.private_data_dir(settings) == data
        assert stat.S_IMODE(data.stat().st_mode) == 0o700 and stat.S_IMODE(old.stat().st_mode) == 0o600
    finally:
        old.unlink()


# --- the UI ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mage_ui(mage_env, settings):
    url = server.start(settings, port=free_port())
    yield url
    server.stop(settings)


def test_the_ui_serves_the_project_on_loopback_only(mage_ui, settings):
    assert mage_ui.startswith("http://127.0.0.1:")
    import psutil

    status = requests.get(f"{mage_ui}/api/status", timeout=30).json()["statuses"][0]
    assert status["repo_path"] == str(ROOT / "mage") and status["scheduler_status"] == "running"
    port = int(mage_ui.rsplit(":", 1)[1])
    listening = [c.laddr.ip for c in psutil.net_connections("tcp") if c.laddr.port == port and c.status == "LISTEN"]
    assert listening == ["127.0.0.1"]
    assert server.running(settings)["url"] == mage_ui
    assert server.describe(settings).startswith(f"UI running: {mage_ui}")
    assert server.start(settings) == mage_ui  # already running: the same one


def test_stop_ends_mage_and_its_processes(mage_ui, settings):
    pid = server.running(settings)["pid"]
    assert server.stop(settings)
    assert server.running(settings) is None and not server.stop(settings)
    group = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _live_in_group(p, pid)]
    assert group == [], "Mage's scheduler or kernels outlived it"
    assert "UI not running" in server.describe(settings)


def _live_in_group(proc: Path, group: int) -> bool:
    """A process (not a zombie) of process group ``group``."""
    try:
        state, _, pgrp = (proc / "stat").read_text().split(") ", 1)[1].split()[:3]
    except (OSError, ValueError):
        return False
    return int(pgrp) == group and state != "Z"


def test_cli_status_shows_mage(settings, capsys):
    from fdelib import cli

    cli.main(["status"])
    assert any(line.startswith("mage ") for line in capsys.readouterr().out.splitlines())


def test_cli_refuses_an_unknown_pipeline_variable(capsys):
    from fdelib import cli

    assert cli.main(["mage", "run", "-p", "tickr=ACME"]) == 2
    assert "unknown pipeline variable(s) tickr" in capsys.readouterr().err
