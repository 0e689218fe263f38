"""Lesson 1's example workflow: a day of prices as a DAG of five small tasks.

    fetch ─┬─► clean ──► validate ─┬─► load
           └─► enrich ─────────────┘

Each task is a function of the *context*: a dict of the results of the tasks that ran
before it. ``load`` reads what ``validate`` and ``enrich`` produced — the simplest form of
passing data between tasks. :func:`looped` is the same chain with ``fetch`` made to wait
for ``load``: a cycle, so no order exists.

>>> build(seed=42, as_of="2026-01-02", days=5).order()
['fetch', 'clean', 'enrich', 'validate', 'load']
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .. import params
from ..start import sample_prices
from .dag import DAG

#: The parameters of lesson 1 (01_workflow_dags), checked at its top by :func:`fdelib.params.check`.
PARAMETERS = {
    "seed": params.Integer(0),
    "as_of": params.Date(),
    "days": params.Integer(2, 250, why="enrich needs two sessions for a return"),
    "payment_amount": params.Number(0.01, 1_000_000),
}


def clean(ctx: dict[str, Any]) -> pd.DataFrame:
    """The fetched prices without incomplete rows."""
    return ctx["fetch"].dropna()


def enrich(ctx: dict[str, Any]) -> pd.DataFrame:
    """The fetched prices with each symbol's daily return (``ret``; NaN on its first day)."""
    prices = ctx["fetch"]
    return prices.assign(ret=prices.groupby("symbol")["close"].pct_change())


def validate(ctx: dict[str, Any]) -> bool:
    """Every cleaned close is positive."""
    return bool((ctx["clean"]["close"] > 0).all())


def load(ctx: dict[str, Any]) -> int:
    """Rows that would be loaded: the enriched ones if validation passed, else none."""
    return len(ctx["enrich"]) if ctx["validate"] else 0


def build(seed: int, as_of: str, days: int, name: str = "daily prices") -> DAG:
    """The daily-prices workflow; ``fetch`` returns :func:`~fdelib.start.sample_prices`."""
    dag = DAG(name)
    dag.task("fetch", lambda ctx: sample_prices(seed=seed, as_of=as_of, days=days))
    dag.task("clean", clean, after=["fetch"])
    dag.task("enrich", enrich, after=["fetch"])
    dag.task("validate", validate, after=["clean"])
    dag.task("load", load, after=["validate", "enrich"])
    return dag


def looped(name: str = "looped") -> DAG:
    """fetch → clean → load, with ``fetch`` also waiting for ``load``: it can never run."""
    dag = DAG(name)
    dag.task("fetch", lambda ctx: None, after=["load"])
    dag.task("clean", lambda ctx: None, after=["fetch"])
    dag.task("load", lambda ctx: None, after=["clean"])
    return dag
