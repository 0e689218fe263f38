"""Benchmark: the bank's transfers/s at 1, 2, 4, 8 clients, and its population load (not a test).

    python benchmarks/bench_bank.py [--customers 100000] [--transfers 4000] [--accounts 1000]

Transfers: the same seeded workload (``--transfers`` among ``--accounts`` accounts) sent by
1, 2, 4 and 8 threads, each with its own connection as ``bank_app``, at READ COMMITTED and
SERIALIZABLE; printed with the retries each needed. Each run's invariants are checked.

Population: ``bank.population.load`` of a generated bank (COPY of every table in one
transaction, with every rule's trigger firing) against a bare COPY of the same rows into
trigger-less, constraint-less copies of the tables, measured in the same run. Runs on a
private embedded server.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import tempfile
import time
from typing import Any

HOME = tempfile.mkdtemp(prefix="fde-bench-bank-", dir="/tmp")
os.environ.update(FDE_HOME=HOME, FDE_ENV_FILE="none")
os.environ.pop("DATABASE_URL", None)

from history import record  # noqa: E402  (benchmarks/history.py: this machine's earlier runs)

from fdelib import bank, config, db, stack  # noqa: E402
from fdelib.bank import concurrency, ops, population  # noqa: E402

AS_OF = "2026-01-02"
FIGURES: dict = {}  # what this run printed, for the history


def bench_load(engine, customers: int) -> None:
    # The bank's tables belong to its owner role; notebooks' role may not read all of them. The
    # bare copies are made by the privileged login, the bank is loaded as its owner (as populate does).
    admin, owner = db.get_admin_engine(engine), bank.ddl.owner_engine(engine)
    began = time.perf_counter()
    generated = population.generate(customers, seed=1, as_of=AS_OF)
    generate_s = time.perf_counter() - began
    rows = generated.rows()
    rendered = {
        name: frame.to_csv(header=False, index=False, na_rep="\\N") for name, frame in generated.frames().items()
    }

    def bare(like: str) -> float:
        with admin.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA IF EXISTS bench_bank CASCADE; CREATE SCHEMA bench_bank")
            for name in bank.TABLES:  # same columns and types; no FK, CHECK or trigger
                conn.exec_driver_sql(f"CREATE TABLE bench_bank.{name} (LIKE bank.{name} {like})")
        began = time.perf_counter()
        with admin.begin() as conn:
            cur: Any = conn.connection.cursor()  # psycopg2's, for copy_expert
            for name, frame in generated.frames().items():
                columns = ", ".join(frame.columns)
                cur.copy_expert(
                    f"COPY bench_bank.{name} ({columns}) FROM STDIN WITH (FORMAT csv, NULL '\\N')",
                    io.StringIO(rendered[name]),
                )
        return time.perf_counter() - began

    def ours() -> float:
        began = time.perf_counter()
        population.load(owner, generated)
        return time.perf_counter() - began

    baseline = min(bare("") for _ in range(2))
    indexed = min(bare("INCLUDING INDEXES") for _ in range(2))
    loaded = min(ours() for _ in range(2))
    breaks = ops.ledger_breaks(engine)
    if not breaks.empty:
        raise SystemExit(
            f"bench_bank: the loaded bank's ledger does not explain its balances "
            f"({len(breaks)} breaks, first: {breaks.iloc[0].to_dict()})"
        )
    with admin.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA bench_bank CASCADE")
    print(f"population: {customers:,} customers -> {rows:,} rows in 7 tables (generated in {generate_s:.1f} s)")
    print(f"  bare COPY of rendered CSV, plain tables   : {rows / baseline:>10,.0f} rows/s (baseline)")
    print(
        f"  bare COPY, tables with the same indexes   : {rows / indexed:>10,.0f} rows/s "
        f"({baseline / indexed:.2f}x of baseline)"
    )
    print(
        f"  bank load: render + COPY + every rule     : {rows / loaded:>10,.0f} rows/s "
        f"({baseline / loaded:.2f}x of baseline)"
    )
    FIGURES.update(
        {
            "load: bare COPY, plain tables (baseline)": (rows / baseline, "rows/s"),
            "load: bare COPY, same indexes": (rows / indexed, "rows/s"),
            "load: render + COPY + every rule": (rows / loaded, "rows/s"),
            "load: bank load, share of baseline": (baseline / loaded, "x"),
        }
    )


def bench_transfers(engine, transfers: int, accounts: int) -> None:
    print(f"transfers: {transfers:,} per run among {accounts:,} accounts")
    print(f"  {'isolation':<15} {'clients':>7} {'transfers/s':>12} {'retries':>8} {'refused':>8}")
    for isolation in ("READ COMMITTED", "SERIALIZABLE"):
        for workers in (1, 2, 4, 8):
            prefix = f"b{isolation[0]}{workers}"
            work = concurrency.plan(engine, transfers, seed=workers, accounts=accounts, prefix=prefix)
            before = ops.total_money(engine)
            result = concurrency.run(engine, work, workers=workers, isolation=isolation)
            facts = concurrency.verify(engine, result, before, prefix=prefix)
            broken = {
                name: facts[name]
                for name, ok in (
                    ("lost (not exactly once)", facts["lost (not exactly once)"] == 0),
                    ("money conserved", facts["money conserved"]),
                    ("balances below minimum", facts["balances below minimum"] == 0),
                    ("errors or gave up", facts["errors or gave up"] == 0),
                )
                if not ok
            }
            if broken:
                raise SystemExit(f"bench_bank: {isolation} with {workers} clients broke an invariant: {broken}")
            refused = int((result.outcomes["status"] == "refused").sum())
            FIGURES[f"transfers: {isolation}, {workers} clients"] = (result.per_second(), "transfers/s")
            print(f"  {isolation:<15} {workers:>7} {result.per_second():>12,.0f} {result.retries:>8,} {refused:>8,}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--transfers", type=int, default=4_000)
    parser.add_argument("--accounts", type=int, default=1_000)
    args = parser.parse_args()
    try:
        engine = db.get_engine()
        bank.setup(engine)
        bench_load(engine, args.customers)
        bank.populate(engine, customers=5_000, seed=2, as_of=AS_OF)
        bench_transfers(engine, args.transfers, args.accounts)
        record("bench_bank", FIGURES, vars(args))
    finally:
        db.dispose_engines()
        bank.ddl.dispose_app_engines()
        stack.down(config.reload())
        shutil.rmtree(HOME, ignore_errors=True)


if __name__ == "__main__":
    main()
