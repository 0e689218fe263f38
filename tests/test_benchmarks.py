"""Every benchmark runs (``make bench``): each at a tiny size, in its own process, with its
history written to a scratch file. Its figures are not checked (tests never assert on wall
time); that it completes, checks its own invariants and records a run is."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "bench_bank": ["--customers", "300", "--transfers", "60", "--accounts", "30"],
    "bench_db": ["--rows", "2000"],
    "bench_etl": ["--rows", "2000"],
    "bench_explorer": ["--runs", "120", "--tasks", "20"],
    "bench_oms": ["--orders", "4", "--engines", "local"],  # make bench runs both
    "bench_refdata": ["--rows", "200"],
    "bench_site": ["--repeat", "1"],
    "bench_stack": ["--repeat", "1", "--skip-course"],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_every_benchmark_is_covered():
    assert {p.stem for p in (ROOT / "benchmarks").glob("bench_*.py")} == set(TINY)


@pytest.mark.parametrize("name", sorted(TINY))
def test_benchmark_runs_and_records_its_figures(name, tmp_path):
    history = tmp_path / "history.jsonl"
    # a benchmark makes its own home and embedded server; it gets its own engine port, not this session's
    env = {**os.environ, "FDE_BENCH_HISTORY": str(history), "FDE_ENGINE_PORT": str(free_port())}
    env.pop("FDE_HOME", None)
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), *TINY[name]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-2000:]
    records = [json.loads(line) for line in history.read_text().splitlines()]
    assert len(records) == 1 and records[0]["benchmark"] == name and records[0]["figures"]
