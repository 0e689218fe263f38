"""Lesson 1's example workflow: the daily-prices DAG and its looped variant."""

import pandas as pd
import pytest

from fdelib.start import sample_prices
from fdelib.workflows import CycleError, daily_prices


def test_build_orders_runs_and_passes_data_between_tasks():
    dag = daily_prices.build(seed=3, as_of="2026-01-02", days=4)
    assert dag.levels() == [["fetch"], ["clean", "enrich"], ["validate"], ["load"]]
    results = dag.run(parallel=True)
    pd.testing.assert_frame_equal(results["fetch"], sample_prices(seed=3, as_of="2026-01-02", days=4))
    assert results["validate"] is True
    assert results["load"] == 8  # two symbols x four sessions
    first_days = results["enrich"].groupby("symbol")["ret"].apply(lambda r: r.isna().iloc[0])
    assert first_days.all() and results["enrich"]["ret"].notna().sum() == 6


def test_tasks_validate_and_refuse_to_load_bad_prices():
    bad = pd.DataFrame({"symbol": ["A", "A"], "close": [10.0, -1.0]})
    assert daily_prices.validate({"clean": bad}) is False
    assert daily_prices.load({"validate": False, "enrich": bad}) == 0
    assert len(daily_prices.clean({"fetch": bad.assign(close=[10.0, None])})) == 1


def test_looped_names_its_cycle():
    with pytest.raises(CycleError, match="'looped' has a cycle: fetch -> clean -> load -> fetch"):
        daily_prices.looped().run()
