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


def draw_dag(graph, *, title: str, levels: list[list[str]] | None = None,
             colors: dict[str, str] | None = None, figsize: tuple[float, float] = (8, 3)) -> None:
    """Draw a workflow graph left to right, one column per parallel level."""
    import networkx as nx

    if levels is None:
        levels = [sorted(layer) for layer in nx.topological_generations(graph)]
    positions = {}
    for x, level in enumerate(levels):
        for y, node in enumerate(level):
            positions[node] = (x, -(y - (len(level) - 1) / 2))
    fig, ax = plt.subplots(figsize=figsize)
    node_colors = [(colors or {}).get(n, "#cfe2f3") for n in graph.nodes]
    labels = {n: str(n).replace("_", "\n") for n in graph.nodes}  # long names wrap
    nx.draw_networkx(graph, positions, ax=ax, labels=labels, node_color=node_colors,
                     node_size=2600, node_shape="s", font_size=8, arrowsize=14, edge_color="#555")
    ax.set_title(title)
    ax.axis("off")
    ax.margins(0.15)
    plt.show()
