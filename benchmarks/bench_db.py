"""Benchmark: fdelib.db.copy_dataframe against a bare COPY of the same rows (not a test).

    python benchmarks/bench_db.py [--rows 1000000]

The baseline is PostgreSQL's COPY fed an already-rendered CSV buffer: the cost of the
database alone. copy_dataframe adds rendering the DataFrame to CSV (and chunking); the
ratio says what that costs. Runs on a private embedded server.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import tempfile
import time

import numpy as np
import pandas as pd

HOME = tempfile.mkdtemp(prefix="fde-bench-db-", dir="/tmp")
os.environ.update(FDE_HOME=HOME, FDE_ENV_FILE="none")
os.environ.pop("DATABASE_URL", None)

from history import record  # noqa: E402  (benchmarks/history.py: this machine's earlier runs)

from fdelib import config, db, stack  # noqa: E402

DDL = """DROP TABLE IF EXISTS bench_ohlcv;
CREATE UNLOGGED TABLE bench_ohlcv (symbol text, ts timestamptz, open numeric(12,4),
  high numeric(12,4), low numeric(12,4), close numeric(12,4), volume bigint)"""


def frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    close = 100 + rng.normal(0, 1, rows).cumsum() * 0.01
    return pd.DataFrame(
        {
            "symbol": np.where(np.arange(rows) % 2, "ACME", "GLOBX"),
            "ts": pd.date_range("2026-01-02 14:30", periods=rows, freq="s", tz="UTC"),
            "open": close.round(4),
            "high": (close + 0.05).round(4),
            "low": (close - 0.05).round(4),
            "close": close.round(4),
            "volume": rng.integers(100, 10_000, rows),
        }
    )


def timed(fn) -> float:
    engine = db.get_engine()
    with engine.begin() as conn:
        conn.exec_driver_sql(DDL)
    t0 = time.perf_counter()
    fn(engine)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    rows = parser.parse_args().rows
    df = frame(rows)
    rendered = df.to_csv(header=False, index=False)

    def bare(engine):
        with engine.begin() as conn, conn.connection.dbapi_connection.cursor() as cur:
            cur.copy_expert("COPY bench_ohlcv FROM STDIN WITH (FORMAT csv)", io.StringIO(rendered))

    try:
        baseline = min(timed(bare) for _ in range(2))
        ours = min(timed(lambda e: db.copy_dataframe(df, "bench_ohlcv", e, progress=False)) for _ in range(2))
        print(f"rows                         : {rows:,}")
        print(f"bare COPY of rendered CSV    : {rows / baseline:>12,.0f} rows/s (baseline)")
        print(f"fdelib.db.copy_dataframe     : {rows / ours:>12,.0f} rows/s ({baseline / ours:.2f}x of baseline)")
        record(
            "bench_db",
            {
                "bare COPY of rendered CSV (baseline)": (rows / baseline, "rows/s"),
                "fdelib.db.copy_dataframe": (rows / ours, "rows/s"),
                "copy_dataframe, share of baseline": (baseline / ours, "x"),
            },
            {"rows": rows},
        )
    finally:
        db.dispose_engines()
        stack.down(config.reload())
        shutil.rmtree(HOME, ignore_errors=True)


if __name__ == "__main__":
    main()
