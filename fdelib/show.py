"""Open the black box: the 10-30 lines that do the work, read from the code itself.

Beside a library call that does a lesson's work, show what it runs — produced from the
live thing, so it can never go stale:

* :func:`table` — a table's DDL as the database has it now (columns, constraints, indexes,
  triggers), from ``pg_catalog``;
* :func:`function` / :func:`view` — a SQL function's or a view's definition
  (``pg_get_functiondef``, ``pg_get_viewdef``);
* :func:`sql_file` — a ``.sql`` file shipped with fdelib, or just one statement of it;
* :func:`workflow` — a workflow definition's JSON (a ``ConductorWorkflow``, a
  ``WorkflowDef``, a dict, or the name of one registered on the engine), without the
  fields left at their defaults;
* :func:`source` — a Python function's or class's source (``inspect``).

Each returns a :class:`Listing`: shown as highlighted code in JupyterLab, as plain text in
a terminal and in stored outputs (deterministic: catalog reads are ordered).

    from fdelib import show
    show.table("bank.accounts")
    show.function("bank.transfer")
    show.sql_file("etl/views.sql", statement="CREATE OR REPLACE VIEW etl.daily")
    show.source(start.roundtrip)
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import textwrap
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from . import db
from .errors import FdeError

PACKAGE = Path(__file__).parent
MAX_LINES = 60


@dataclasses.dataclass(frozen=True)
class Listing:
    """Code to show: its text, language (for highlighting) and where it comes from."""

    text: str
    language: str
    title: str

    def _repr_markdown_(self) -> str:
        return f"**{self.title}**\n\n```{self.language}\n{self.text}\n```"

    def __repr__(self) -> str:
        return f"-- {self.title}\n{self.text}" if self.language == "sql" else f"# {self.title}\n{self.text}"

    def __str__(self) -> str:
        return self.text

    @property
    def lines(self) -> int:
        return len(self.text.splitlines())


def _cut(text: str, max_lines: int) -> str:
    lines = text.rstrip().splitlines()
    if len(lines) <= max_lines:
        return "\n".join(lines)
    return "\n".join([*lines[:max_lines], f"... ({len(lines) - max_lines} more lines)"])


def _split_name(name: str) -> tuple[str, str]:
    schema, _, relation = name.rpartition(".")
    return schema or "public", relation


# --- from the live catalog -----------------------------------------------------------


def table(name: str, engine: sa.Engine | None = None, max_lines: int = MAX_LINES) -> Listing:
    """``CREATE TABLE`` as the database has it now, with its indexes and triggers."""
    schema, relation = _split_name(name)
    engine = engine or db.get_engine()
    with engine.connect() as conn:
        oid = conn.execute(
            sa.text(
                "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :s AND c.relname = :r AND c.relkind IN ('r', 'p')"
            ),
            {"s": schema, "r": relation},
        ).scalar()
        if oid is None:
            raise FdeError(f"no table {schema}.{relation} in the database (has its notebook run?)")
        columns = (
            conn.execute(
                sa.text(
                    "SELECT quote_ident(a.attname) AS name, format_type(a.atttypid, a.atttypmod) AS type, "
                    "a.attnotnull AS not_null, pg_get_expr(d.adbin, d.adrelid) AS default_, "
                    "a.attidentity AS identity, a.attgenerated AS generated "
                    "FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
                    "WHERE a.attrelid = :oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
                ),
                {"oid": oid},
            )
            .mappings()
            .all()
        )
        constraints = (
            conn.execute(
                sa.text(
                    "SELECT quote_ident(conname) AS name, pg_get_constraintdef(oid, true) AS definition "
                    "FROM pg_constraint WHERE conrelid = :oid AND contype NOT IN ('n', 't') "  # (triggers below)
                    "ORDER BY CASE contype WHEN 'p' THEN 0 WHEN 'u' THEN 1 WHEN 'f' THEN 2 ELSE 3 END, conname"
                ),
                {"oid": oid},
            )
            .mappings()
            .all()
        )
        indexes = (
            conn.execute(
                sa.text(
                    "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i "
                    "WHERE i.indrelid = :oid AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
                    "WHERE c.conindid = i.indexrelid) ORDER BY 1"
                ),
                {"oid": oid},
            )
            .scalars()
            .all()
        )
        triggers = (
            conn.execute(
                sa.text(
                    "SELECT pg_get_triggerdef(oid, true) FROM pg_trigger WHERE tgrelid = :oid "
                    "AND NOT tgisinternal ORDER BY tgname"
                ),
                {"oid": oid},
            )
            .scalars()
            .all()
        )
    body = []
    for column in columns:
        line = f"    {column['name']} {column['type']}"
        if column["identity"]:
            line += " GENERATED " + ("ALWAYS" if column["identity"] == "a" else "BY DEFAULT") + " AS IDENTITY"
        elif column["generated"]:
            line += f" GENERATED ALWAYS AS ({column['default_']}) STORED"
        elif column["default_"] is not None:
            line += f" DEFAULT {column['default_']}"
        if column["not_null"]:
            line += " NOT NULL"
        body.append(line)
    body += [f"    CONSTRAINT {c['name']} {c['definition']}" for c in constraints]
    text = f"CREATE TABLE {schema}.{relation} (\n" + ",\n".join(body) + "\n);"
    text += "".join(f"\n{statement};" for statement in [*indexes, *triggers])
    return Listing(_cut(text, max_lines), "sql", f"{schema}.{relation}, read from the database's catalog")


def function(name: str, engine: sa.Engine | None = None, max_lines: int = MAX_LINES) -> Listing:
    """A SQL function's definition (every overload, if there are several)."""
    schema, fname = _split_name(name)
    definitions = db.read_frame(
        "SELECT pg_get_functiondef(p.oid) AS definition FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = :s AND p.proname = :f "
        "AND p.prokind IN ('f', 'p') ORDER BY pg_get_function_identity_arguments(p.oid)",
        {"s": schema, "f": fname},
        engine=engine,
    )["definition"].tolist()
    if not definitions:
        raise FdeError(f"no function {schema}.{fname} in the database")
    text = "\n".join(d.strip() + ";" for d in definitions)
    return Listing(_cut(text, max_lines), "sql", f"{schema}.{fname}, read from the database's catalog")


def view(name: str, engine: sa.Engine | None = None, max_lines: int = MAX_LINES) -> Listing:
    """A view's (or materialized view's) query, as the database stores it."""
    schema, relation = _split_name(name)
    found = db.read_frame(
        "SELECT c.relkind, pg_get_viewdef(c.oid, true) AS definition FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = :s AND c.relname = :r AND c.relkind IN ('v', 'm')",
        {"s": schema, "r": relation},
        engine=engine,
    )
    if found.empty:
        raise FdeError(f"no view {schema}.{relation} in the database")
    kind = "MATERIALIZED VIEW" if found["relkind"][0] == "m" else "VIEW"
    text = f"CREATE {kind} {schema}.{relation} AS\n{found['definition'][0].rstrip()}"
    return Listing(_cut(text, max_lines), "sql", f"{schema}.{relation}, read from the database's catalog")


# --- from the code -------------------------------------------------------------------


def sql_file(path: str | Path, statement: str | None = None, max_lines: int = MAX_LINES) -> Listing:
    """A ``.sql`` file of fdelib (``"bank/schema.sql"``) or any path; with ``statement``,
    only the statement that starts with that text (up to its closing ``;``)."""
    full = Path(path)
    if not full.is_absolute():
        full = PACKAGE / path
    if not full.is_file():
        raise FdeError(f"SQL file not found: {path}")
    text = full.read_text()
    if statement:
        text = _statement(text, statement, full)
    shown = full.relative_to(PACKAGE.parent).as_posix() if full.is_relative_to(PACKAGE.parent) else str(full)
    return Listing(_cut(text.strip(), max_lines), "sql", shown)


def _statement(text: str, start: str, path: Path) -> str:
    """The statement of ``text`` that begins with ``start``; ``$$``-quoted bodies included."""
    import sqlparse

    for piece in sqlparse.split(text):
        lines = piece.strip().splitlines()
        while lines and lines[0].lstrip().startswith("--"):  # its comment lines stay out
            lines = lines[1:]
        body = "\n".join(lines)
        if body.lstrip().lower().startswith(start.lower()):
            return body
    raise FdeError(f"no statement starting with {start!r} in {path.name}")


def source(obj: Any, max_lines: int = MAX_LINES, docstring: bool = False) -> Listing:
    """A Python function's, method's or class's source, without its docstring unless asked."""
    try:
        text = textwrap.dedent(inspect.getsource(obj))
    except (TypeError, OSError) as exc:
        raise FdeError(f"no source for {obj!r}: {exc}") from exc
    if not docstring:
        text = _drop_docstring(text)
    module = getattr(obj, "__module__", "")
    name = getattr(obj, "__qualname__", getattr(obj, "__name__", repr(obj)))
    return Listing(_cut(text, max_lines), "python", f"{module}.{name}")


def _drop_docstring(text: str) -> str:
    import ast

    tree = ast.parse(text)
    node = tree.body[0] if tree.body else None
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return text
    if ast.get_docstring(node, clean=False) is None:
        return text
    first = node.body[0]
    lines = text.splitlines()
    del lines[first.lineno - 1 : first.end_lineno]
    return "\n".join(lines)


_DEFAULTS = {
    "inputParameters": {},
    "optional": False,
    "asyncComplete": False,
    "startDelay": 0,
    "permissive": False,
    "cacheConfig": None,
    "decisionCases": {},
    "defaultCase": [],
    "forkTasks": [],
    "joinOn": [],
    "description": None,
    "inputTemplate": {},
    "rateLimited": False,
    "restartable": True,
    "workflowStatusListenerEnabled": False,
    "variables": {},
    "failureWorkflow": "",
    "schemaVersion": 2,
    "timeoutPolicy": "ALERT_ONLY",
    "ownerEmail": None,
    "outputParameters": {},
    "tags": [],
    "enforceSchema": True,
    "metadata": {},
    "maskedFields": [],
}


def _prune(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _prune(v)
            for k, v in value.items()
            if v is not None
            and v != {}
            and v != []
            and k != "enforceSchema"
            and not (k in _DEFAULTS and v == _DEFAULTS[k])
        }
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def workflow(definition: Any, max_lines: int = MAX_LINES, full: bool = False) -> Listing:
    """A workflow definition's JSON; a name is looked up on the engine in use.

    Fields left at Conductor's defaults are left out unless ``full``.
    """
    if isinstance(definition, str):
        import requests

        from . import conductor

        response = requests.get(f"{conductor.server_url().rstrip('/')}/metadata/workflow/{definition}", timeout=10)
        if response.status_code >= 400:
            raise FdeError(f"no workflow named {definition!r} on the engine")
        data = response.json()
    else:
        from .practice.workflowcheck import definition_of

        data = definition_of(definition)
        if data is None:
            raise FdeError(f"not a workflow definition: {type(definition).__name__}")
    shown = data if full else _prune(data)
    for noise in ("createTime", "updateTime", "createdBy", "updatedBy"):
        shown.pop(noise, None)
    text = json.dumps(shown, indent=2, sort_keys=False)
    return Listing(_cut(text, max_lines), "json", f"workflow {data.get('name')} v{data.get('version')}")
