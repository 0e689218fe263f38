"""Every chart helper labels both axes; a graph has no axes to label."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from fdelib import viz

FRAME = pd.DataFrame(
    {
        "day": pd.to_datetime(["2026-01-02", "2026-01-05", "2026-01-02", "2026-01-05"]),
        "close": [1.0, 2.0, 3.0, 0.0],
        "symbol": ["A", "A", "B", "B"],
        "start": [0, 1, 0, 2],
        "end": [1, 3, 2, 4],
    }
)


@pytest.fixture(autouse=True)
def fresh_figures():
    plt.close("all")
    yield
    plt.close("all")


@pytest.mark.parametrize(
    "draw",
    [
        lambda **labels: viz.lines(FRAME, x="day", y="close", by="symbol", title="t", **labels),
        lambda **labels: viz.bars(FRAME, x="symbol", y="close", by="day", title="t", **labels),
        lambda **labels: viz.spans(
            FRAME,
            start="start",
            end="end",
            lane="day",
            by="symbol",
            title="t",
            **{"xlabel": "x", "ylabel": "y", **labels},
        ),
    ],
    ids=["lines", "bars", "spans"],
)
def test_chart_helpers_label_both_axes(draw):
    draw(xlabel="trading day", ylabel="close (USD)")
    ax = plt.gcf().axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("trading day", "close (USD)")


def test_labels_default_to_the_column_names_never_blank():
    viz.lines(FRAME, x="day", y="close", by="symbol", title="t")
    ax = plt.gcf().axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("day", "close")


def test_zero_bars_are_drawn_as_dashes():
    viz.bars(FRAME, x="symbol", y="close", by="day", title="t", xlabel="x", ylabel="y")
    dashes = [line for line in plt.gcf().axes[0].lines if line.get_marker() == "_"]
    assert len(dashes) == 1  # B on 2026-01-05 is zero
