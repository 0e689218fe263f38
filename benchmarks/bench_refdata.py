"""Benchmark: a BIC→LEI-sized mapping file validated and upserted, against a bare COPY.

    python benchmarks/bench_refdata.py [--rows 50000]

The stand-in serves a zipped ``BIC,LEI`` file of ``--rows`` rows (valid identifiers, plus
its two bad rows). Measured in the same run:
* baseline: a bare COPY of the same rows (already as CSV text) into an unconstrained table,
  and into a copy of ``refdata.xref`` with its primary key and index (what any upsert pays);
* ``load_mapping``: unzip and parse, validate every BIC and LEI with python-stdnum, COPY
  the valid rows to a staging table, upsert into ``refdata.xref`` — first load, then the
  same file again (all rows seen before).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="fde-bench-ref-", dir="/tmp")
    os.environ.update(FDE_HOME=home, FDE_ENV_FILE="none", FDE_MODE="offline")
    os.environ.pop("DATABASE_URL", None)

    from history import record  # benchmarks/history.py: this machine's earlier runs

    from fdelib import config, db, refdata, stack
    from fdelib.refdata import gleif, stub
    from fdelib.refdata.store import _check_values

    try:
        engine = db.get_engine()
        refdata.reset(engine)
        stub.configure(rows=args.rows)
        client = gleif.client()
        client.mapping_file("bic-lei")  # warm-up: the stand-in builds the file
        began = time.perf_counter()
        frame = client.mapping_file("bic-lei")
        download = time.perf_counter() - began
        rows = len(frame)
        text = frame.to_csv(index=False, header=False)
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS bench_bic_lei (bic text, lei text)")

        def bare() -> float:
            with engine.begin() as conn:
                conn.exec_driver_sql("TRUNCATE bench_bic_lei")
            began = time.perf_counter()
            with engine.begin() as conn, db.psycopg2_connection(conn).cursor() as cur:
                cur.copy_expert("COPY bench_bic_lei FROM STDIN WITH (FORMAT csv)", io.StringIO(text))
            return time.perf_counter() - began

        baseline = min(bare() for _ in range(3))
        indexed_text = frame.assign(kind="BIC-LEI", source="bench", first_seen="2026-01-02", as_of="2026-01-02")[
            ["kind", "BIC", "LEI", "source", "first_seen", "as_of"]
        ].to_csv(index=False, header=False)

        def bare_indexed() -> float:
            with engine.begin() as conn:
                conn.exec_driver_sql("DROP TABLE IF EXISTS bench_xref")
                conn.exec_driver_sql("CREATE TABLE bench_xref (LIKE refdata.xref INCLUDING ALL)")
            began = time.perf_counter()
            with engine.begin() as conn, db.psycopg2_connection(conn).cursor() as cur:
                cur.copy_expert(
                    "COPY bench_xref (kind, from_id, to_id, source, first_seen, as_of) FROM STDIN WITH (FORMAT csv)",
                    io.StringIO(indexed_text),
                )
            return time.perf_counter() - began

        indexed = min(bare_indexed() for _ in range(3))
        began = time.perf_counter()
        for column, kind in (("BIC", "BIC"), ("LEI", "LEI")):
            _check_values(kind, frame[column].unique(), "bench", progress=False)
        validation = time.perf_counter() - began
        began = time.perf_counter()
        first = refdata.load_mapping(frame, "BIC-LEI", as_of="2026-01-02", progress=True, snapshot=True)
        first_s = time.perf_counter() - began
        began = time.perf_counter()
        again = refdata.load_mapping(frame, "BIC-LEI", as_of="2026-01-03", progress=True, snapshot=True)
        again_s = time.perf_counter() - began
        if first["rejected"] != 2 or again["new"] != 0:
            raise SystemExit(f"wrong result, figures withheld: first load {first}, reload {again}")
        print(
            f"BIC->LEI file: {rows:,} rows ({first['rejected']} invalid), downloaded and unzipped in {download:.2f} s"
        )
        print(f"  bare COPY of the same rows          : {rows / baseline:>10,.0f} rows/s (baseline)")
        print(f"  bare COPY into xref's own indexes   : {rows / indexed:>10,.0f} rows/s ({baseline / indexed:.2f}x)")
        print(f"  validate + stage + upsert, new      : {rows / first_s:>10,.0f} rows/s ({baseline / first_s:.2f}x)")
        print(f"  validate + stage + upsert, reload   : {rows / again_s:>10,.0f} rows/s ({baseline / again_s:.2f}x)")
        print(
            f"  of which python-stdnum validation   : {validation:.2f} s of {first_s:.2f} s "
            f"({2 * rows / validation:,.0f} identifiers/s)"
        )
        print(
            f"  database part alone (stage+upsert)  : {rows / (first_s - validation):>10,.0f} rows/s "
            f"({baseline / (first_s - validation):.2f}x; {indexed / (first_s - validation):.2f}x of the indexed COPY)"
        )
        record(
            "bench_refdata",
            {
                "download and unzip": (download, "s"),
                "bare COPY (baseline)": (rows / baseline, "rows/s"),
                "bare COPY into xref's indexes": (rows / indexed, "rows/s"),
                "validate + stage + upsert, new": (rows / first_s, "rows/s"),
                "validate + stage + upsert, reload": (rows / again_s, "rows/s"),
                "python-stdnum validation": (2 * rows / validation, "identifiers/s"),
                "database part alone": (rows / (first_s - validation), "rows/s"),
            },
            vars(args),
        )
    finally:
        db.dispose_engines()
        stack.down(config.reload())
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
