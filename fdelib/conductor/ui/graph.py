"""A workflow's graph as SVG, drawn from its definition's JSON, top to bottom as Conductor's UI
draws it: a sequence goes down; a FORK_JOIN's branches and a SWITCH's cases (each labelled with
its case value, ``default`` last) stand side by side and meet at the next task; a
FORK_JOIN_DYNAMIC's branches are known only at run time (a dashed box in a definition, the
forked tasks in a run); a DO_WHILE frames the tasks it loops over; a TERMINATE ends its path.

With ``statuses`` (reference name -> the status of its latest attempt) every task is filled
with its status's colour, and tasks that did not run are left white. The drawing depends on the
definition and the statuses only, so it is the same from run to run of a lesson.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Mapping, Sequence

from ..history import STATUS_COLORS

W, H = 168, 40  # a task's box
GAP_X, GAP_Y = 18, 34
PAD = 12
SIMPLE_FILL, SYSTEM_FILL, NOT_RUN_FILL = "#cfe2f3", "#eeeeee", "#ffffff"
STATUS_FILLS = {**STATUS_COLORS, "SKIPPED": "#dddddd", "TERMINATED": "#999999"}
DARK = {"COMPLETED", "FAILED", "FAILED_WITH_TERMINAL_ERROR", "IN_PROGRESS", "CANCELED", "TIMED_OUT", "TERMINATED"}
FORKS = ("FORK_JOIN", "FORK")
SWITCHES = ("SWITCH", "DECISION")


@dataclasses.dataclass
class Node:
    x: float
    y: float
    ref: str
    kind: str
    name: str
    dashed: bool = False


@dataclasses.dataclass
class Edge:
    points: list[tuple[float, float]]
    label: str = ""


@dataclasses.dataclass
class Block:
    """A laid-out part of the graph, in its own coordinates (top left is 0, 0)."""

    width: float
    height: float
    nodes: list[Node] = dataclasses.field(default_factory=list)
    edges: list[Edge] = dataclasses.field(default_factory=list)
    frames: list[tuple[float, float, float, float, str]] = dataclasses.field(default_factory=list)
    top: tuple[float, float] = (0.0, 0.0)
    bottoms: list[tuple[float, float]] = dataclasses.field(default_factory=list)

    def moved(self, dx: float, dy: float) -> Block:
        return Block(
            self.width,
            self.height,
            [dataclasses.replace(n, x=n.x + dx, y=n.y + dy) for n in self.nodes],
            [Edge([(x + dx, y + dy) for x, y in e.points], e.label) for e in self.edges],
            [(x + dx, y + dy, w, h, label) for x, y, w, h, label in self.frames],
            (self.top[0] + dx, self.top[1] + dy),
            [(x + dx, y + dy) for x, y in self.bottoms],
        )


def _link(start: tuple[float, float], end: tuple[float, float], label: str = "") -> Edge:
    """Down, across, down: the orthogonal route Conductor's UI draws."""
    (x1, _), (x2, y2) = start, end
    if abs(x1 - x2) < 0.5:
        return Edge([start, end], label)
    middle = y2 - GAP_Y / 2
    return Edge([start, (x1, middle), (x2, middle), end], label)


def _task(task: Mapping, dashed: bool = False) -> Block:
    node = Node(0, 0, task.get("taskReferenceName", "?"), task.get("type") or "SIMPLE", task.get("name", ""), dashed)
    return Block(W, H, [node], top=(W / 2, 0), bottoms=[] if node.kind == "TERMINATE" else [(W / 2, H)])


def _side_by_side(head: Block, columns: list[tuple[str, Block]]) -> Block:
    """``head`` above ``columns`` (each with its edge label), all joined from head's bottom."""
    columns = columns or [("", Block(W / 2, 0, top=(W / 4, 0), bottoms=[(W / 4, 0)]))]
    width = sum(c.width for _, c in columns) + GAP_X * (len(columns) - 1)
    width = max(width, head.width)
    block = Block(width, 0)
    head = head.moved((width - head.width) / 2, 0)
    block.nodes += head.nodes
    block.edges += head.edges
    block.frames += head.frames
    block.top = head.top
    x = (width - (sum(c.width for _, c in columns) + GAP_X * (len(columns) - 1))) / 2
    y = head.height + GAP_Y + (14 if any(label for label, _ in columns) else 0)
    height = head.height
    for label, column in columns:
        placed = column.moved(x, y)
        block.nodes += placed.nodes
        block.edges += placed.edges
        block.frames += placed.frames
        for start in head.bottoms or [head.top]:
            block.edges.append(_link(start, placed.top, label))
        if not placed.nodes and not placed.frames:  # an empty case: the path goes straight through
            placed.bottoms = [(placed.top[0], placed.top[1])]
        block.bottoms += placed.bottoms
        height = max(height, y + column.height)
        x += column.width + GAP_X
    block.height = height
    return block


def _sequence(tasks: list[Mapping], spawned: Mapping[str, Sequence[Mapping]]) -> Block:
    blocks = [_block(t, spawned) for t in tasks]
    if not blocks:
        return Block(W / 2, 0, top=(W / 4, 0), bottoms=[(W / 4, 0)])
    width = max(b.width for b in blocks)
    result = Block(width, 0)
    y = 0.0
    previous: list[tuple[float, float]] | None = None
    for b in blocks:
        placed = b.moved((width - b.width) / 2, y)
        result.nodes += placed.nodes
        result.edges += placed.edges
        result.frames += placed.frames
        if previous is None:
            result.top = placed.top
        else:
            result.edges += [_link(p, placed.top) for p in previous]
        previous = placed.bottoms
        y += b.height + GAP_Y
    result.height = y - GAP_Y
    result.bottoms = previous or []
    return result


def _block(task: Mapping, spawned: Mapping[str, Sequence[Mapping]]) -> Block:
    kind = task.get("type") or "SIMPLE"
    ref = task.get("taskReferenceName", "")
    if kind in FORKS:
        branches = [("", _sequence(list(b), spawned)) for b in task.get("forkTasks") or []]
        return _side_by_side(_task(task), branches)
    if kind in SWITCHES:
        cases = [(str(v), _sequence(list(c or []), spawned)) for v, c in (task.get("decisionCases") or {}).items()]
        cases.append(("default", _sequence(list(task.get("defaultCase") or []), spawned)))
        return _side_by_side(_task(task), cases)
    if kind == "FORK_JOIN_DYNAMIC":
        forked = spawned.get(ref)
        if forked is None:  # a definition: the branches are decided at run time
            placeholder = {"taskReferenceName": "dynamic tasks", "type": "decided at run time"}
            return _side_by_side(_task(task), [("", _task(placeholder, dashed=True))])
        return _side_by_side(_task(task), [("", _task(t)) for t in forked])
    if kind == "DO_WHILE":
        inner = _sequence(list(task.get("loopOver") or []), spawned)
        head = _task(task)
        frame_w = max(inner.width + 2 * PAD, W + 2 * PAD)
        body = inner.moved((frame_w - inner.width) / 2, PAD + 14)
        framed = Block(frame_w, inner.height + 2 * PAD + 14, body.nodes, body.edges, body.frames)
        framed.frames.append((0, 0, frame_w, framed.height, f"loop: {ref}"))
        framed.top, framed.bottoms = body.top, [(frame_w / 2, framed.height)]
        return _side_by_side(head, [("", framed)])
    return _task(task)


def layout(definition: Mapping, spawned: Mapping[str, Sequence[Mapping]] | None = None) -> Block:
    """The definition laid out; ``spawned``: a run's forked tasks per FORK_JOIN_DYNAMIC reference."""
    return _sequence(list(definition.get("tasks") or []), spawned or {})


def _short(text: str, limit: int = 22) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def svg(
    definition: Mapping,
    statuses: Mapping[str, str] | None = None,
    spawned: Mapping[str, Sequence[Mapping]] | None = None,
    *,
    max_width: int = 900,
) -> str:
    """The definition (or a run of it, with ``statuses``) as an ``<svg>`` element."""
    block = layout(definition, spawned)
    width, height = block.width + 2 * PAD, block.height + 2 * PAD + 44
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="fde-graph" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{min(width, max_width):.0f}" font-family="sans-serif" font-size="11">',
        '<defs><marker id="fde-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#666"/></marker></defs>',
        f'<g transform="translate({PAD},{PAD + 22})">',
        f'<circle cx="{block.top[0]:.0f}" cy="-14" r="8" fill="#fff" stroke="#666"/>',
        f'<text x="{block.top[0] + 12:.0f}" y="-10" fill="#666">start</text>',
    ]
    out.append(f'<line x1="{block.top[0]:.0f}" y1="-6" x2="{block.top[0]:.0f}" y2="0" stroke="#666"/>')
    for x, y, w, h, label in block.frames:
        out.append(
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{w:.0f}" height="{h:.0f}" rx="6" fill="none" '
            f'stroke="#888" stroke-dasharray="5,3"/><text x="{x + 6:.0f}" y="{y + 13:.0f}" fill="#555">'
            f"↻ {html.escape(label)}</text>"
        )
    for edge in block.edges:
        path = " ".join(f"{'M' if i == 0 else 'L'} {x:.0f} {y:.0f}" for i, (x, y) in enumerate(edge.points))
        out.append(f'<path d="{path}" fill="none" stroke="#666" marker-end="url(#fde-arrow)"/>')
        if edge.label:
            x, y = edge.points[-1]
            out.append(
                f'<text x="{x + 5:.0f}" y="{y - 4:.0f}" fill="#1c4587" '
                f'font-style="italic">{html.escape(_short(edge.label, 18))}</text>'
            )
    end_y = block.height + 22
    for x, y in block.bottoms:
        path = " ".join(
            f"{'M' if i == 0 else 'L'} {px:.0f} {py:.0f}"
            for i, (px, py) in enumerate(_link((x, y), (block.top[0], end_y - 8)).points)
        )
        out.append(f'<path d="{path}" fill="none" stroke="#666" marker-end="url(#fde-arrow)"/>')
    out.append(f'<circle cx="{block.top[0]:.0f}" cy="{end_y:.0f}" r="8" fill="#666"/>')
    out.append(f'<text x="{block.top[0] + 12:.0f}" y="{end_y + 4:.0f}" fill="#666">end</text>')
    for node in block.nodes:
        out.append(_node_svg(node, statuses))
    out.append("</g></svg>")
    return "".join(out)


def _node_svg(node: Node, statuses: Mapping[str, str] | None) -> str:
    system = node.kind != "SIMPLE"
    status = (statuses or {}).get(node.ref)
    if statuses is None:
        fill, text = (SYSTEM_FILL if system else SIMPLE_FILL), "#222"
    elif status is None:
        fill, text = NOT_RUN_FILL, "#777"
    else:
        fill = STATUS_FILLS.get(status, "#cccccc")
        text = "#fff" if status in DARK else "#222"
    dash = ' stroke-dasharray="5,3"' if node.dashed or (statuses is not None and status is None) else ""
    shape = "4" if not system else "14"
    subtitle = node.kind if system else node.name
    tooltip = f"{node.ref} ({node.kind}{' ' + node.name if node.name and node.name != node.ref else ''})"
    if status:
        tooltip += f": {status}"
    return (
        f'<g class="fde-task" data-ref="{html.escape(node.ref)}" data-status="{html.escape(status or "")}">'
        f"<title>{html.escape(tooltip)}</title>"
        f'<rect x="{node.x:.0f}" y="{node.y:.0f}" width="{W}" height="{H}" rx="{shape}" fill="{fill}" '
        f'stroke="#555"{dash}/>'
        f'<text x="{node.x + W / 2:.0f}" y="{node.y + 16:.0f}" text-anchor="middle" fill="{text}" '
        f'font-weight="bold">{html.escape(_short(node.ref))}</text>'
        f'<text x="{node.x + W / 2:.0f}" y="{node.y + 31:.0f}" text-anchor="middle" fill="{text}" '
        f'font-size="9">{html.escape(_short(subtitle or "", 28))}</text></g>'
    )


def legend(statuses: Mapping[str, str]) -> str:
    """Small coloured chips for the statuses that occur, in a fixed order."""
    seen = [s for s in STATUS_FILLS if s in set(statuses.values())]
    chips = "".join(
        f'<span style="display:inline-block;margin-right:10px"><span style="display:inline-block;width:10px;'
        f'height:10px;background:{STATUS_FILLS[s]};border:1px solid #555;margin-right:3px"></span>{s}</span>'
        for s in seen
    )
    return f'<div style="font-size:11px;margin:2px 0 6px 0">{chips}</div>'


__all__ = ["Block", "layout", "legend", "svg"]
