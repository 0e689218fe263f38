"""Two processes on the same month (issue 12.6): exports are replaced whole, runs are serialised.

Real processes, started together, against the session's PostgreSQL; the test process reads the
exported files all the while. Before: readers saw empty CSVs and unreadable Parquet, a committed
run raised FileNotFoundError, and one of two runs died with a UniqueViolation in 5 of 7 trials."""

import io
import json
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pyarrow.parquet as pq
import pytest

from fdelib import db, etl
from fdelib.etl import pipeline, stub

WORKER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from fdelib import etl
    action, symbol, folder, start, repeat, wait = sys.argv[1:7]
    client = etl.client(sleep=lambda s: None)
    while time.time() < float(start):        # start together
        time.sleep(0.005)
    outcomes = []
    for _ in range(int(repeat)):
        try:
            if action == "run":
                etl.run_month(symbol, "2025-11", "5min", client=client, export_to=Path(folder), wait=float(wait))
            else:
                etl.export(symbol, "2025-11", Path(folder))
            outcomes.append("ok")
        except Exception as exc:
            outcomes.append(f"{type(exc).__name__}: {exc}")
    print(json.dumps({"outcomes": outcomes, "calls": client.calls}))
""")


@pytest.fixture(autouse=True)
def clean_feed(engine):
    etl.setup(engine)
    stub.configure()
    yield


def start_workers(action, symbol, folder, repeat, wait=0.0, count=2):
    start = time.time() + 4.0  # every worker is up by then (imports take a while)
    return [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, action, symbol, str(folder), str(start), str(repeat), str(wait)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]


def read_while(workers, folder, symbol):
    """Read the exported CSV and Parquet files until the workers end; what each read saw."""
    csv, parquet = folder / f"{symbol}_2025-11_daily.csv", folder / f"{symbol}_2025-11_daily.parquet"
    seen = []
    while any(w.poll() is None for w in workers):
        for path, read in (
            (csv, lambda p: pd.read_csv(io.BytesIO(p.read_bytes()))),
            (parquet, lambda p: pq.read_table(io.BytesIO(p.read_bytes())).to_pandas()),
        ):
            try:
                seen.append(len(read(path)))
            except FileNotFoundError:
                continue  # not exported yet
            except Exception as exc:  # an empty CSV, a torn Parquet file
                seen.append(f"{path.suffix}: {type(exc).__name__}: {exc}")
        time.sleep(0.01)
    return seen


def results(workers):
    outs = []
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err[-2000:]
        outs.append(json.loads(out.strip().splitlines()[-1]))
    return outs


def test_a_second_run_of_a_month_being_loaded_is_refused_before_it_calls_the_api(engine):
    client = etl.client(sleep=lambda s: None)
    holding = pipeline.Run.begin("BUSY", "2025-11", "60min", client=client, engine=engine)
    try:
        other = etl.client(sleep=lambda s: None)
        with pytest.raises(
            etl.RunInProgress,
            match=rf"BUSY 2025-11 is already being loaded by run "
            rf"{holding.run_id} \(2025-11, 60min\)",
        ):
            etl.run_month("BUSY", "2025-11", "60min", client=other)
        assert other.calls == 0  # refused before the fetch: no quota spent
        refused = etl.run_log().iloc[-1]
        assert refused["status"] == "failed" and "RunInProgress" in refused["error"]
        etl.run_month("BUSY", "2025-10", "60min", client=other)  # another month is not held
    finally:
        holding.fail(RuntimeError("test over"))
    assert etl.run_month("BUSY", "2025-11", "60min", client=client)["daily_rows"] == 19  # free again


def test_an_answer_that_overlaps_the_month_before_holds_it_too(engine):
    stub.configure(["duplicates"])  # November's answer brings October 31
    client = etl.client(sleep=lambda s: None)
    holding = pipeline.Run.begin("OVER", "2025-10", "60min", client=client, engine=engine)
    try:
        with pytest.raises(etl.RunInProgress, match="OVER 2025-10 is already being loaded"):
            etl.run_month("OVER", "2025-11", "60min", client=client)
    finally:
        holding.fail(RuntimeError("test over"))
    assert db.read_scalar("SELECT count(*) FROM etl.raw_intraday WHERE symbol = 'OVER'") == 0


def test_two_processes_running_the_same_month_never_tear_files_or_collide(tmp_path):
    workers = start_workers("run", "RACE", tmp_path, repeat=3, count=3)
    seen = read_while(workers, tmp_path, "RACE")
    outs = results(workers)
    outcomes = [o for out in outs for o in out["outcomes"]]
    assert all(o == "ok" or o.startswith("RunInProgress: RACE 2025-11 is already being loaded") for o in outcomes), (
        outcomes
    )
    assert "ok" in outcomes
    assert seen and all(n == 19 for n in seen), [s for s in seen if s != 19][:5]
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))  # no temporary file left
    log = etl.run_log()
    mine = log[log["symbol"] == "RACE"]
    assert set(mine["status"]) <= {"succeeded", "failed"}
    assert (mine["status"] == "succeeded").sum() == outcomes.count("ok")
    assert mine.loc[mine["status"] == "failed", "error"].str.startswith("RunInProgress").all()


def test_runs_that_wait_for_the_month_all_succeed_one_after_the_other(tmp_path):
    workers = start_workers("run", "QUEUE", tmp_path, repeat=2, wait=120)
    seen = read_while(workers, tmp_path, "QUEUE")
    outs = results(workers)
    assert [o for out in outs for o in out["outcomes"]] == ["ok"] * 4
    assert all(n == 19 for n in seen)
    log = etl.run_log()
    assert list(log.loc[log["symbol"] == "QUEUE", "status"]) == ["succeeded"] * 4


def test_two_processes_exporting_the_same_month_replace_each_file_whole(tmp_path):
    etl.run_month("EXPO", "2025-11", "60min", client=etl.client(sleep=lambda s: None), export_to=tmp_path)
    expected = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    workers = start_workers("export", "EXPO", tmp_path, repeat=40)
    seen = read_while(workers, tmp_path, "EXPO")
    outs = results(workers)
    assert [o for out in outs for o in out["outcomes"]] == ["ok"] * 80
    assert seen and all(n == 19 for n in seen), [s for s in seen if s != 19][:5]
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == expected  # same bytes, nothing left over
