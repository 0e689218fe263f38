"""Plots the notebooks share, so cells stay one line and figures look alike.

Every chart helper labels both axes: ``xlabel`` and ``ylabel`` default to the column names, and
lessons pass labels with units (``ylabel="notional (USD thousands)"``). Dates on the x axis are
written the short way matplotlib's concise formatter chooses. A helper draws and shows its
figure and returns nothing, so a cell's stored output is the figure alone.

Figures stored in notebooks must not depend on timing: nbval compares only the text of a figure
output (``<Figure size 700x300 with 1 Axes>``), never its pixels, so a plot of measured
milliseconds would pass the check while changing on every run. Lessons draw deterministic data
(a model, counts, seeded data) and report measurements as checked facts in tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.patches import Rectangle

if TYPE_CHECKING:
    from matplotlib.typing import LegendLocType


def _label(ax, xlabel: str, ylabel: str, title: str) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)


def _dates(ax, values: pd.Series) -> None:
    """Short date ticks (``Jan``, ``14:31``) when the x values are dates or times."""
    if pd.api.types.is_datetime64_any_dtype(values):
        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def lines(
    frame: pd.DataFrame,
    x: str,
    y: str,
    by: str,
    *,
    title: str,
    ylabel: str | None = None,
    xlabel: str | None = None,
    figsize: tuple[float, float] = (7, 3),
    markers: bool = True,
    hline: tuple[float, str] | None = None,
    logx: bool = False,
    logy: bool = False,
    legend: LegendLocType | Literal["outside"] = "best",
) -> None:
    """One line per ``by`` group. ``hline=(value, label)`` adds a dashed reference line; ``legend``
    is where the legend goes (matplotlib's ``loc``)."""
    fig, ax = plt.subplots(figsize=figsize)
    for name, group in frame.groupby(by, sort=True):
        ax.plot(group[x], group[y], marker="o" if markers else None, markersize=4, label=str(name))
    if hline is not None:
        ax.axhline(hline[0], color="#555", linestyle="--", linewidth=1, label=hline[1])
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    _dates(ax, frame[x])
    _label(ax, xlabel or x, ylabel or y, title)
    if legend == "outside":
        ax.legend(title=by, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    else:
        ax.legend(title=by, fontsize=8, loc=legend)
    fig.tight_layout()
    plt.show()


def bars(
    frame: pd.DataFrame,
    x: str,
    y: str,
    by: str | None = None,
    *,
    title: str,
    ylabel: str | None = None,
    xlabel: str | None = None,
    figsize: tuple[float, float] = (7, 3),
) -> None:
    """Grouped bars: one group per ``x`` value, one bar per ``by`` value (or one bar per ``x``).
    A zero line is drawn, so signed values (errors, differences) read from it, and a bar of height
    zero shows as a dash in its colour: "zero" reads differently from "missing"."""
    wide = (
        frame.pivot_table(index=x, columns=by, values=y, aggfunc="sum", sort=False) if by else frame.set_index(x)[[y]]
    )
    fig, ax = plt.subplots(figsize=figsize)
    wide.plot.bar(ax=ax, width=0.8, rot=0, legend=by is not None)
    ax.axhline(0, color="#333", linewidth=0.8)
    for patch in ax.patches:  # the bars: Rectangles
        if isinstance(patch, Rectangle) and patch.get_height() == 0:
            ax.plot(
                patch.get_x() + patch.get_width() / 2,
                0,
                marker="_",
                markersize=9,
                markeredgewidth=2.5,
                color=patch.get_facecolor(),
            )
    ax.tick_params(axis="x", labelsize=8)
    if by:
        ax.legend(title=by, fontsize=8)
    _label(ax, xlabel or x, ylabel or y, title)
    fig.tight_layout()
    plt.show()


def spans(
    frame: pd.DataFrame,
    start: str,
    end: str,
    lane: str,
    by: str,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    queued: str | None = None,
    figsize: tuple[float, float] = (8, 3.6),
) -> None:
    """A timeline: one lane per (``by``, ``lane``) row, a bar from ``start`` to ``end``; with
    ``queued`` (a column), a light bar from it to ``start`` shows the wait before the work."""
    fig, ax = plt.subplots(figsize=figsize)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    labels: list[str] = []
    for index, (name, group) in enumerate(frame.groupby(by, sort=True)):
        color = colors[index % len(colors)]
        for row in group.itertuples(index=False):
            y = len(labels)
            if queued:
                ax.barh(
                    y, getattr(row, start) - getattr(row, queued), left=getattr(row, queued), color=color, alpha=0.25
                )
            ax.barh(
                y,
                getattr(row, end) - getattr(row, start),
                left=getattr(row, start),
                color=color,
                label=str(name) if not any(lab.startswith(f"{name}:") for lab in labels) else None,
            )
            labels.append(f"{name}: {getattr(row, lane)}")
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.invert_yaxis()
    _label(ax, xlabel, ylabel, title)
    ax.legend(title=by, fontsize=8, loc="best")
    fig.tight_layout()
    plt.show()


def draw_dag(
    graph,
    *,
    title: str,
    levels: list[list[str]] | None = None,
    colors: dict[str, str] | None = None,
    figsize: tuple[float, float] = (8, 3),
) -> None:
    """Draw a workflow graph left to right, one column per parallel level.

    A graph has no axes to label: position means order (left runs first), an arrow means
    "runs before", and tasks in one column may run at the same time."""
    import networkx as nx

    if levels is None:
        levels = [sorted(layer) for layer in nx.topological_generations(graph)]
    positions = {}
    for x, level in enumerate(levels):
        for y, node in enumerate(level):
            positions[node] = (x, -(y - (len(level) - 1) / 2))
    _fig, ax = plt.subplots(figsize=figsize)
    node_colors = [(colors or {}).get(n, "#cfe2f3") for n in graph.nodes]
    labels = {n: str(n).replace("_", "\n") for n in graph.nodes}  # long names wrap
    nx.draw_networkx(
        graph,
        positions,
        ax=ax,
        labels=labels,
        node_color=node_colors,
        node_size=2600,
        node_shape="s",
        font_size=8,
        arrowsize=14,
        edge_color="#555",
    )
    ax.set_title(title)
    ax.axis("off")
    ax.margins(0.15)
    plt.show()
