"""``GET /workflow/search``: Conductor's query forms, read as Conductor 3.32.1 reads them.

Conductor OSS 3.32.1 keeps its index in SQLite by default (``conductor.indexing.type=sqlite``),
and its ``SqliteIndexQueryBuilder`` decides what a query means; this module follows it:

* ``query`` is split on `` AND `` (upper case, one space each side); each part must match
  ``<field> <op> <value>`` with ``op`` one of ``=``, ``>``, ``<``, ``IN``: ``status = FAILED``,
  ``workflowType IN (a,b)``, ``startTime > 1700000000000``, ``correlationId = 'x'``. Quotes and
  parentheses are dropped from the value, which is then split on commas (spaces are kept: write
  ``IN (a,b)``, not ``IN (a, b)``). ``IN`` with one value is ``=``; ``=`` with ``*`` in the value
  matches as a wildcard, ignoring case (``workflowType = practice_*``). Times are epoch
  milliseconds. A part that does not match is refused (400 ``Incorrectly formatted query
  string``); a field Conductor does not index is ignored, as Conductor ignores it.
* ``freeText``: ``*`` (everything) or a term any of the run's summary values contains, ignoring
  case (its id, type, correlation id, status, input, output, reason).
* ``sort``: ``field:ASC`` or ``field:DESC``, several joined by ``|`` (``startTime:DESC``); a sort
  without a direction or on a field that is not indexed is ignored. Without one, runs come in
  the order they were created.
* ``start``/``size``: the page (default 0 and 100); ``totalHits`` counts every match.

Where Conductor would answer 500 (a time that is not a number, a task field in a workflow
search), the local engine answers 400 saying what to write instead.
"""

from __future__ import annotations

import dataclasses
import re

from .decider import EngineError

#: SqliteIndexQueryBuilder.VALID_FIELDS: fields a condition or a sort may name (snake case)
INDEXED = (
    "workflow_id",
    "correlation_id",
    "workflow_type",
    "start_time",
    "end_time",
    "status",
    "task_id",
    "task_type",
    "task_def_name",
    "update_time",
    "json_data",
    "parent_workflow_id",
    "classifier",
)
#: indexed for task search only: Conductor's workflow index has no such column (it fails)
TASK_FIELDS = ("task_id", "task_type", "task_def_name")
WORKFLOW_FIELDS = tuple(f for f in INDEXED if f not in TASK_FIELDS)
CONDITION = re.compile(r"([a-zA-Z]+)\s?(=|>|<|IN)\s?(.*)")


class SearchError(EngineError):
    status = 400


@dataclasses.dataclass(frozen=True)
class Condition:
    field: str  # snake case, one of INDEXED
    op: str  # "=", ">", "<", "IN" or "LIKE" (an "=" with a wildcard)
    values: tuple[str, ...]  # for a *_time field: epoch milliseconds as text


@dataclasses.dataclass(frozen=True)
class Search:
    conditions: tuple[Condition, ...] = ()
    free_text: str | None = None  # a LIKE pattern, lower case; None: everything
    sort: tuple[tuple[str, str], ...] = ()  # (field, "ASC" | "DESC")
    start: int = 0
    size: int = 100


def snake(camel: str) -> str:
    """Conductor's camelToSnake: ``workflowType`` -> ``workflow_type``."""
    return re.sub(r"\B([A-Z])", r"_\1", camel).lower()


def _values(text: str) -> list[str]:
    """The value part: quotes and parentheses dropped, split on commas (as Java's split:
    trailing empty strings dropped, the empty string stays one empty value)."""
    values = re.sub(r"[\"'()]", "", text).split(",")
    while len(values) > 1 and values[-1] == "":
        values.pop()
    return values


def condition(part: str) -> Condition | None:
    """One ``<field> <op> <value>`` part; None for a field Conductor ignores."""
    match = CONDITION.search(part)
    if not match:
        raise SearchError(f"Incorrectly formatted query string: {part}")
    field, op, values = snake(match.group(1)), match.group(2), _values(match.group(3))
    if not values:
        raise SearchError(f"Incorrectly formatted query string: {part} (no value)")
    if field not in INDEXED:
        return None
    if field in TASK_FIELDS:
        raise SearchError(
            f"{match.group(1)} is a task field: workflow search knows "
            + ", ".join(re.sub(r"_(\w)", lambda m: m.group(1).upper(), f) for f in WORKFLOW_FIELDS)
        )
    if op == "IN" and len(values) == 1:
        op = "="
    if field.endswith("_time"):
        if not re.fullmatch(r"[+-]?\d+", values[0]):
            raise SearchError(
                f"{match.group(1)} takes epoch milliseconds, not {values[0]!r}: e.g. {match.group(1)} > 1700000000000"
            )
    elif op == "=" and "*" in values[0]:
        op = "LIKE"
        values = [values[0].replace("*", "%").lower()]
    return Condition(field, op, tuple(values))


def parse(
    query: str | None = None,
    free_text: str | None = "*",
    start: int = 0,
    size: int = 100,
    sort: str | None = None,
    classifier: str | None = None,
    top_level_only: bool = False,
) -> Search:
    """The request's parameters as a :class:`Search` (WorkflowResource.search's defaults)."""
    parts = query.split(" AND ") if query else []
    if classifier and classifier.strip():  # WorkflowResource.withClassifierFilter
        values = ",".join(v.strip() for v in classifier.split(",") if v.strip())
        if values:
            parts.append(f"classifier IN ({values})")
    if top_level_only:  # WorkflowResource.withTopLevelFilter
        parts.append('parentWorkflowId=""')
    while parts and parts[-1] == "":  # Java's split drops trailing empty parts
        parts.pop()
    conditions = tuple(c for c in (condition(p) for p in parts) if c is not None)
    order = []
    for item in (sort or "").split("|") if sort and sort.strip() else []:
        pieces = item.split(":")
        if len(pieces) != 2:
            continue
        field, direction = snake(pieces[0]), pieces[1].upper()
        if field in WORKFLOW_FIELDS and field != "json_data" and direction in ("ASC", "DESC"):
            order.append((field, direction))
    term = None
    if free_text and free_text != "*":
        term = f"%{free_text.lower()}%".replace("*", "%")
    return Search(conditions, term, tuple(order), max(0, start), size)


__all__ = ["Condition", "Search", "SearchError", "condition", "parse", "snake"]
