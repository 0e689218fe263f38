"""Benchmark: the ETL's load (fetch → raw table) against a bare COPY, and its aggregation.

    python benchmarks/bench_etl.py [--rows 1000000]

Load: 1-minute bars for as many symbol-months as make ``--rows`` rows, each month fetched
over HTTP from the offline stand-in — run in its own process with its payloads rendered
beforehand, so its work is not counted (a real API's server is somebody else's CPU) — parsed,
validated, rendered to CSV and COPYed into ``etl.raw_intraday`` one transaction per month
(with its run record and BRIN summary, as ``run_month`` does). Baseline, in the same run:
one bare COPY of the same rows, already rendered, into a copy of the table without indexes
or constraints, and into the real table. Each timed load starts after a CHECKPOINT.
The same months again as ``datatype=csv`` answers (also rendered beforehand), through the
vectorised path (``fdelib.etl.csvbars``: Arrow parses, checks and renders; no loop per bar),
into an emptied ``etl.raw_intraday``: the same rows must arrive.

Aggregation: ``aggregate_daily`` (first/last by time, per NYSE session) for every month
against a bare ``GROUP BY`` of the same clean bars (min/max/sum only).
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import shutil
import tempfile
import time

import sqlalchemy


def serve_stand_in(jobs, ready, stop) -> None:
    """The stand-in in a process of its own, every payload (JSON and CSV) rendered before it answers."""
    from fdelib.etl import stub
    from fdelib.localapi import LocalAPI

    original, original_csv = stub.render, stub.to_csv
    cache = {(symbol, month): original(symbol, month, "1min", stub.feed().seed, frozenset()) for symbol, month in jobs}
    as_csv = {id(body): original_csv(body, "1min") for body in cache.values()}

    def to_csv(body, key):
        return as_csv[id(body)] if key.endswith("1min)") and id(body) in as_csv else original_csv(body, key)

    def render(symbol, month, interval, seed, faults, fetch=1, extended=False):
        if (symbol, month) in cache and interval == "1min" and not faults and not extended:
            return cache[symbol, month]  # the same bytes on every fetch
        return original(symbol, month, interval, seed, faults, fetch, extended)

    stub.render, stub.to_csv = render, to_csv
    api = LocalAPI(stub.feed(), "alphavantage-bench", keep_requests=False)
    ready.put(api.url)
    stop.wait()


def load_csv(client, engine, jobs) -> float:
    """Seconds to load every month as a CSV answer through the vectorised path, as run_month does."""
    from tqdm import tqdm

    from fdelib.etl import load, runs

    began = time.perf_counter()
    for (symbol, month), bars in tqdm(
        load.fetch_ahead(client, jobs, "1min", datatype="csv"), total=len(jobs), desc="symbol-months (CSV)", leave=False
    ):
        if isinstance(bars, Exception):  # parsed and checked by Arrow in the fetch thread
            raise bars
        with engine.begin() as conn:
            load.load_raw(conn, bars, runs.start_run(conn, symbol, month, "1min"))
    return time.perf_counter() - began


def digest(engine) -> tuple:
    """What etl.raw_intraday holds, in a few sums (run ids aside)."""
    with engine.connect() as conn:
        return tuple(
            conn.exec_driver_sql(
                "SELECT count(*), sum(volume), sum(open + high + low + close), "
                "sum(extract(epoch FROM bar_time)), count(DISTINCT symbol) FROM etl.raw_intraday"
            ).one()
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="fde-bench-etl-", dir="/tmp")
    os.environ.update(FDE_HOME=home, FDE_ENV_FILE="none", FDE_MODE="offline")
    os.environ.pop("DATABASE_URL", None)

    from history import record  # benchmarks/history.py: this machine's earlier runs

    from fdelib import config, db, etl, stack
    from fdelib.etl import load, runs, transform
    from fdelib.etl.sessions import bar_times

    server = None
    try:
        engine = db.get_engine()
        etl.reset(engine)
        months = [f"{y}-{m:02d}" for y in (2024, 2025) for m in range(1, 13)]
        jobs, rows = [], 0
        for n in range(100):
            for month in months:
                if rows >= args.rows:
                    break
                jobs.append((f"SYM{n:02d}", month))
                rows += len(bar_times(month, "1min"))
        ready: multiprocessing.Queue[str] = multiprocessing.Queue()  # the stand-in's URL
        stop = multiprocessing.Event()
        server = multiprocessing.Process(target=serve_stand_in, args=(jobs, ready, stop), daemon=True)
        server.start()
        client = etl.alphavantage.Client(ready.get(timeout=600), "demo")
        client.intraday(*jobs[0], "1min")  # warm-up: connection, imports

        admin = sqlalchemy.create_engine(stack.admin_url(), isolation_level="AUTOCOMMIT")

        def checkpoint() -> None:  # start each timed load with the same amount of WAL to write
            with admin.connect() as conn:
                conn.exec_driver_sql("CHECKPOINT")

        checkpoint()
        began = time.perf_counter()
        loaded = 0
        rendered = []
        from tqdm import tqdm

        for (symbol, month), payload in tqdm(
            load.fetch_ahead(client, jobs, "1min"), total=len(jobs), desc="symbol-months", leave=False
        ):
            if isinstance(payload, Exception):
                raise payload
            payload = payload.decode()  # parse + validate (as run_month does)
            with engine.begin() as conn:  # one transaction per month, as run_month does
                run_id = runs.start_run(conn, symbol, month, "1min")
                loaded += load.load_raw(conn, payload, run_id)
            aside = time.perf_counter()  # the baseline's CSV, not timed
            rendered.append(load.render_raw(payload, run_id)[0])
            began += time.perf_counter() - aside
        ours = time.perf_counter() - began
        text = "".join(rendered)
        del rendered
        if loaded != rows:  # a check, not an assert: python -O would skip that
            raise SystemExit(
                f"bench_etl: loaded {loaded:,} rows but the sessions of these months hold {rows:,}; "
                "the figures below would compare different work"
            )
        json_rows = digest(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("TRUNCATE etl.raw_intraday")
        checkpoint()
        via_csv = load_csv(client, engine, jobs)
        if digest(engine) != json_rows:
            raise SystemExit(
                f"bench_etl: the CSV path loaded {digest(engine)}, the JSON path {json_rows} "
                "(rows, volume, prices, times): they must load the same rows"
            )

        def bare(table: str) -> float:
            with engine.begin() as conn:
                conn.exec_driver_sql(f"TRUNCATE {table}")
            checkpoint()
            began = time.perf_counter()
            with engine.begin() as conn, db.psycopg2_connection(conn).cursor() as cur:
                cur.copy_expert(f"COPY {table} ({load.RAW_COLUMNS}) FROM STDIN WITH (FORMAT csv)", io.StringIO(text))
            return time.perf_counter() - began

        with engine.begin() as conn:
            conn.exec_driver_sql(
                "DROP TABLE IF EXISTS etl.bench_raw; "
                "CREATE TABLE etl.bench_raw (LIKE etl.raw_intraday INCLUDING DEFAULTS)"
            )
        plain = min(bare("etl.bench_raw") for _ in range(2))
        same_table = bare("etl.raw_intraday")  # leaves the rows for the aggregation below
        with engine.begin() as conn:  # as load_raw does after its COPY
            conn.exec_driver_sql("SELECT brin_summarize_new_values('etl.raw_intraday_run_idx')")
        admin.dispose()

        print(f"load: {rows:,} one-minute bars, {len(jobs)} symbol-months over HTTP")
        print(f"  bare COPY, table without index/constraints : {rows / plain:>10,.0f} rows/s (baseline)")
        print(
            f"  bare COPY into etl.raw_intraday            : {rows / same_table:>10,.0f} rows/s "
            f"({plain / same_table:.2f}x)"
        )
        print(
            f"  fetch (next month ahead) + parse + COPY    : {rows / ours:>10,.0f} rows/s "
            f"({plain / ours:.2f}x of baseline, {same_table / ours:.2f}x of COPY into the same table)"
        )
        print(
            f"  fetch CSV + Arrow parse/check/render + COPY: {rows / via_csv:>10,.0f} rows/s "
            f"({plain / via_csv:.2f}x of baseline, {same_table / via_csv:.2f}x of COPY into the same table)"
        )

        began = time.perf_counter()
        with engine.begin() as conn:
            for symbol, month in jobs:
                transform.deduplicate(conn, symbol, month, "1min")
        dedup = time.perf_counter() - began
        began = time.perf_counter()
        with engine.begin() as conn:
            for symbol, month in jobs:
                transform.aggregate_daily(conn, symbol, month, "1min")
        aggregate = time.perf_counter() - began
        began = time.perf_counter()
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "SELECT symbol, (bar_time AT TIME ZONE 'America/New_York')::date, min(low), "
                "max(high), sum(volume) FROM etl.intraday GROUP BY 1, 2"
            ).fetchall()
        bare_group = time.perf_counter() - began
        print(f"aggregation of {rows:,} clean bars to daily OHLCV")
        print(f"  bare GROUP BY (min, max, sum)              : {bare_group:6.2f} s (baseline)")
        print(f"  aggregate_daily, month by month            : {aggregate:6.2f} s ({aggregate / bare_group:.1f}x)")
        print(f"  deduplicate, month by month                : {dedup:6.2f} s")
        record(
            "bench_etl",
            {
                "load: bare COPY, no index/constraints (baseline)": (rows / plain, "rows/s"),
                "load: bare COPY into etl.raw_intraday": (rows / same_table, "rows/s"),
                "load: fetch + parse + COPY (JSON)": (rows / ours, "rows/s"),
                "load: fetch CSV + Arrow + COPY": (rows / via_csv, "rows/s"),
                "aggregation: bare GROUP BY (baseline)": (bare_group, "s"),
                "aggregation: aggregate_daily": (aggregate, "s"),
                "aggregation: deduplicate": (dedup, "s"),
            },
            vars(args),
        )
    finally:
        if server is not None:
            stop.set()
            server.join(10)
        db.dispose_engines()
        stack.down(config.reload())
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
