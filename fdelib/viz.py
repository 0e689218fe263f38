"""Plots the notebooks share, so cells stay one line and figures look alike."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd


def lines(frame: pd.DataFrame, x: str, y: str, by: str, *, title: str, ylabel: str | None = None,
          figsize: tuple[float, float] = (7, 3)) -> None:
    """One line per ``by`` group; shown at once (returns nothing, so no stray repr)."""
    fig, ax = plt.subplots(figsize=figsize)
    for name, group in frame.groupby(by, sort=True):
        ax.plot(group[x], group[y], marker="o", label=str(name))
    ax.set_title(title)
    ax.set_ylabel(ylabel or y)
    ax.grid(alpha=0.3)
    ax.legend(title=by)
    fig.autofmt_xdate()
    plt.show()
