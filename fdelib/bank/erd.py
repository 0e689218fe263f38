"""The entity-relationship diagram, read from the live database (pg_catalog), not drawn by hand.

:func:`columns`, :func:`foreign_keys` and :func:`rules` ask the catalog what the schema
*is*; :func:`draw` lays the tables out by their foreign-key depth (a table sits right of
every table it references) and draws each relationship as an arrow from the referencing
table to the referenced one. Change the DDL and the diagram follows.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import networkx as nx
import pandas as pd
import sqlalchemy as sa

from .. import db

COLUMNS_SQL = """
SELECT c.relname AS table_name, a.attnum AS position, a.attname AS column_name,
       format_type(a.atttypid, a.atttypmod) AS data_type, a.attnotnull AS not_null,
       EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p'
               AND a.attnum = ANY (k.conkey)) AS primary_key,
       EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'f'
               AND a.attnum = ANY (k.conkey)) AS foreign_key
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = :schema AND c.relkind = 'r'
ORDER BY c.relname, a.attnum
"""

FOREIGN_KEYS_SQL = """
SELECT k.conname AS constraint_name, child.relname AS from_table,
       (SELECT string_agg(a.attname, ', ' ORDER BY u.ord) FROM unnest(k.conkey) WITH ORDINALITY u(num, ord)
        JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.num) AS from_columns,
       parent.relname AS to_table,
       (SELECT string_agg(a.attname, ', ' ORDER BY u.ord) FROM unnest(k.confkey) WITH ORDINALITY u(num, ord)
        JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.num) AS to_columns
FROM pg_constraint k
JOIN pg_class child ON child.oid = k.conrelid
JOIN pg_class parent ON parent.oid = k.confrelid
JOIN pg_namespace n ON n.oid = child.relnamespace
WHERE k.contype = 'f' AND n.nspname = :schema
ORDER BY from_table, constraint_name
"""

RULES_SQL = """
SELECT c.relname AS table_name, k.conname AS rule,
       CASE k.contype WHEN 'p' THEN 'primary key' WHEN 'u' THEN 'unique' WHEN 'f' THEN 'foreign key'
                      WHEN 'c' THEN 'check' WHEN 'n' THEN 'not null' ELSE k.contype::text END AS kind,
       pg_get_constraintdef(k.oid) AS definition
FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :schema AND k.contype IN ('p', 'u', 'f', 'c')
UNION ALL
SELECT c.relname, i.relname, 'unique index', regexp_replace(pg_get_indexdef(i.oid), '^.* USING btree ', '')
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :schema AND x.indisunique
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.oid)
UNION ALL
SELECT c.relname, t.tgname,
       CASE WHEN t.tgconstraint <> 0 THEN 'trigger (deferred)' ELSE 'trigger' END,
       'runs ' || p.proname || '()'
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :schema AND NOT t.tgisinternal
ORDER BY 1, 3, 2
"""


def columns(engine: sa.Engine, schema: str = "bank") -> pd.DataFrame:
    """Every column of every table: type, NOT NULL, part of the primary / a foreign key."""
    return db.read_frame(COLUMNS_SQL, {"schema": schema}, engine=engine)


def foreign_keys(engine: sa.Engine, schema: str = "bank") -> pd.DataFrame:
    """Every relationship: which columns of which table reference which table."""
    return db.read_frame(FOREIGN_KEYS_SQL, {"schema": schema}, engine=engine)


def rules(engine: sa.Engine, schema: str = "bank") -> pd.DataFrame:
    """Every rule the database enforces: constraints, unique indexes and triggers."""
    return db.read_frame(RULES_SQL, {"schema": schema}, engine=engine)


def relationships(engine: sa.Engine, schema: str = "bank") -> nx.MultiDiGraph:
    """Tables as nodes, foreign keys as edges (referencing -> referenced)."""
    graph = nx.MultiDiGraph()
    for table, cols in columns(engine, schema).groupby("table_name", sort=True):
        graph.add_node(table, columns=cols.sort_values("position"))
    for fk in foreign_keys(engine, schema).itertuples(index=False):
        graph.add_edge(fk.from_table, fk.to_table, label=fk.from_columns, name=fk.constraint_name)
    return graph


def _depth(graph: nx.MultiDiGraph) -> dict[str, int]:
    """How many foreign-key hops a table is from a table that references nothing."""
    simple = nx.DiGraph((u, v) for u, v in graph.edges() if u != v)
    simple.add_nodes_from(graph.nodes)
    depth: dict[str, int] = {}
    for node in reversed(list(nx.topological_sort(simple))):
        depth[node] = 1 + max((depth[p] for p in simple.successors(node)), default=-1)
    return depth


def _box_text(cols: pd.DataFrame) -> str:
    """One line per column: PK / FK marks, name, type, and (null) where NULL is allowed."""
    lines = []
    for col in cols.itertuples(index=False):
        mark = "PK" if col.primary_key else ("FK" if col.foreign_key else "  ")
        null = "" if col.not_null else "  (null)"
        lines.append(f"{mark} {col.column_name}: {col.data_type}{null}")
    return "\n".join(lines)


def _layout(graph: nx.MultiDiGraph) -> dict[str, tuple[float, float]]:
    """Columns by foreign-key depth; within a column, tables sorted by where their
    referenced tables sit (fewer crossing arrows), then by name."""
    depth = _depth(graph)
    position: dict[str, tuple[float, float]] = {}
    for level in sorted(set(depth.values())):
        nodes = [n for n in graph.nodes if depth[n] == level]

        def pull(node: str) -> float:
            ys = [position[v][1] for _, v in graph.out_edges(node) if v in position]
            return -sum(ys) / len(ys) if ys else 0.0

        nodes.sort(key=lambda n: (pull(n), n))
        for row, node in enumerate(nodes):
            position[node] = (level * 3.4, -(row - (len(nodes) - 1) / 2) * 4.4)
    return position


def _curve_point(ax, start, end, rad: float, t: float = 0.5) -> tuple[float, float]:
    """Point ``t`` of the way along matplotlib's ``arc3`` curve (a quadratic Bezier whose
    control point is computed on screen) from ``start`` to ``end``."""
    (x1, y1), (x2, y2) = ax.transData.transform([start, end])
    cx, cy = (x1 + x2) / 2 + rad * (y2 - y1), (y1 + y2) / 2 - rad * (x2 - x1)
    point = ((1 - t) ** 2 * x1 + 2 * t * (1 - t) * cx + t**2 * x2, (1 - t) ** 2 * y1 + 2 * t * (1 - t) * cy + t**2 * y2)
    return tuple(ax.transData.inverted().transform(point))


def _bend(ax, start, end, obstacles: list[tuple[float, float]], rad: float = 0.3) -> float:
    """Curvature for an arrow that skips columns: bend to the side away from the tables it
    would otherwise cross."""

    def clearance(r: float) -> float:
        middle = _curve_point(ax, start, end, r)
        return min((abs(middle[0] - x) + abs(middle[1] - y) for x, y in obstacles), default=0)

    return rad if clearance(rad) >= clearance(-rad) else -rad


def draw(engine: sa.Engine, schema: str = "bank", *, figsize: tuple[float, float] = (14, 7.5)) -> None:
    """Draw the schema as it is in the database: boxes of columns, arrows for foreign keys."""
    graph = relationships(engine, schema)
    position = _layout(graph)
    fig, ax = plt.subplots(figsize=figsize)
    xs, ys = [p[0] for p in position.values()], [p[1] for p in position.values()]
    ax.set_xlim(min(xs) - 1.7, max(xs) + 1.7)
    ax.set_ylim(min(ys) - 2.4, max(ys) + 2.4)
    ax.axis("off")
    boxes = {}
    for node, (x, y) in position.items():
        boxes[node] = ax.text(
            x,
            y,
            f"{node.upper()}\n" + _box_text(graph.nodes[node]["columns"]),
            ha="center",
            va="center",
            multialignment="left",
            fontsize=6.5,
            family="monospace",
            zorder=3,
            bbox={"boxstyle": "round,pad=0.5", "fc": "#eef4fb", "ec": "#2a5d8f"},
        )
    fig.canvas.draw()  # box sizes are known only once the text is laid out
    to_data = ax.transData.inverted()
    extent = {n: to_data.transform(_patch(b).get_window_extent()) for n, b in boxes.items()}
    depth = _depth(graph)
    for u, v, data in graph.edges(data=True):
        if u == v:
            continue  # self-reference: shown as FK in the box (transactions.counterpart_id)
        (ux0, uy0), (_ux1, uy1) = extent[u]
        (_vx0, vy0), (vx1, vy1) = extent[v]
        start, end = (ux0, (uy0 + uy1) / 2), (vx1, (vy0 + vy1) / 2)
        rad = (
            0.05
            if depth[u] - depth[v] <= 1
            else _bend(ax, start, end, [position[n] for n in position if depth[v] < depth[n] < depth[u]])
        )
        ax.annotate(
            "",
            xy=end,
            xytext=start,
            zorder=2,
            arrowprops={"arrowstyle": "-|>", "color": "#557", "lw": 1.1, "connectionstyle": f"arc3,rad={rad}"},
        )
        ax.text(
            *_curve_point(ax, start, end, rad),
            data["label"],
            fontsize=7,
            color="#335",
            ha="center",
            va="center",
            zorder=4,
            bbox={"fc": "white", "ec": "none", "alpha": 0.85, "pad": 0.6},
        )
    ax.set_title(
        f"Schema {schema!r} as the database describes it (arrows: foreign keys, "
        "from the referencing table to the referenced one)",
        fontsize=10,
    )
    plt.show()


def _patch(text):
    """The box drawn around an annotation made with ``bbox=...`` (always there for ours)."""
    patch = text.get_bbox_patch()
    if patch is None:
        raise ValueError(f"annotation {text.get_text()!r} has no box")
    return patch
