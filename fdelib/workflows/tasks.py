"""Idempotent and non-idempotent tasks, on real tables.

A task is idempotent when running it again with the same input leaves the same state.
Appending rows is not: a retried load doubles them. A keyed upsert is: the second run
rewrites the same rows. Workflow engines retry tasks, so every task should be the second
kind.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from .. import db

SCHEMA = Path(__file__).with_name("schema.sql")


def setup(engine: sa.Engine) -> None:
    """Create the lessons' tables (idempotent)."""
    db.run_sql_file(SCHEMA, engine)


def reset_prices(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE workflows.prices_append, workflows.prices_upsert")


def load_append(engine: sa.Engine, prices: pd.DataFrame) -> int:
    """Not idempotent: every run appends the rows again."""
    return db.copy_dataframe(prices, "prices_append", engine, schema="workflows")


def load_upsert(engine: sa.Engine, prices: pd.DataFrame) -> int:
    """Idempotent: rows are keyed by (symbol, day); a re-run overwrites them in place."""
    rows = prices[["symbol", "day", "close"]].to_dict("records")
    with engine.begin() as conn:
        conn.execute(
            sa.text("""
            INSERT INTO workflows.prices_upsert (symbol, day, close)
            VALUES (:symbol, :day, :close)
            ON CONFLICT (symbol, day) DO UPDATE SET close = EXCLUDED.close
        """),
            rows,
        )
    return len(rows)


def run_both_loads(engine: sa.Engine, prices: pd.DataFrame, runs: int = 2) -> pd.DataFrame:
    """From empty tables, run the appending and the upserting load ``runs`` times each (as an
    engine retrying them would); :func:`table_state` afterwards."""
    setup(engine)
    reset_prices(engine)
    for _ in range(runs):
        load_append(engine, prices)
        load_upsert(engine, prices)
    return table_state(engine)


def table_state(engine: sa.Engine) -> pd.DataFrame:
    """Row counts and total of closes in both tables: what a re-run changed."""
    return db.read_frame(
        """
        SELECT 'append (not idempotent)' AS load, count(*) AS rows, sum(close) AS total_close
        FROM workflows.prices_append
        UNION ALL
        SELECT 'upsert (idempotent)', count(*), sum(close) FROM workflows.prices_upsert
    """,
        engine=engine,
    ).set_index("load")
