"""Running a learner's SQL where it can do no harm, and comparing what it returns.

Every run is one transaction of a session that logs in as the learner, always rolled back
(:mod:`.sandbox` makes the session, watches its time and cleans up after it):

    BEGIN                                -- search_path = practice_check_<...>, public
      <fixture>        -- the exercise's known data: tables named like the lesson's shadow them
      <the SQL under test>, <probes>
    ROLLBACK

so a check sees exactly the fixture (an unqualified ``start_here_prices`` is the fixture's
copy, not the learner's live table), the learner's DDL lands in the check's scratch schema,
and nothing a check runs outlives it. What the SQL may do is the learner role's business,
enforced by the database; the text is read only to say early, and kindly, that transaction
control has no place in an answer. Errors come back as :class:`SqlError` values, so a
catalogued wrong answer may be one that fails (e.g. a GROUP BY mistake).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa

from . import learner, sandbox


@dataclasses.dataclass(frozen=True)
class SqlError:
    """A statement the database refused: its SQLSTATE and first line of message."""

    sqlstate: str
    message: str
    # the driver's diagnostics: the constraint that refused (or the NOT NULL column), and the
    # server function that raised it ("exec_stmt_raise": a RAISE in PL/pgSQL, e.g. the learner's own)
    constraint: str = dataclasses.field(default="", compare=False)
    raised_in: str = dataclasses.field(default="", compare=False)

    def __str__(self) -> str:
        return self.message


@dataclasses.dataclass(frozen=True)
class Probe:
    """A statement run after the learner's script, and what should happen to it.

    ``expect`` is ``"accepted"`` or ``"refused"``; a probe that is a query may also
    compare the rows it returns with the reference script's.
    """

    sql: str
    expect: str
    label: str


def strip_magic(text: str) -> str:
    """Cell text without its ``%%sql ...`` line (what jupysql would run)."""
    lines = text.strip().splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        lines = lines[1:]
    return "\n".join(lines).strip()


def is_blank(sql: str | None) -> bool:
    """No statement in it: empty, or comments only."""
    if sql is None:
        return True
    import sqlparse

    return not sqlparse.format(sql, strip_comments=True).strip().strip(";").strip()


_FORBIDDEN = (
    "COMMIT",
    "ROLLBACK",
    "BEGIN",
    "START",
    "END",
    "ABORT",
    "RESET",
    "SAVEPOINT",
    "RELEASE",
    "PREPARE",
    "SET ROLE",
    "SET SESSION",
    "SET LOCAL ROLE",
    "SET LOCAL SESSION",
)


def forbidden(sql: str) -> SqlError | None:
    """Transaction control and role changes have no place in an answer: said before anything
    runs. (A friendly early message only: the database holds whatever the text hides.)"""
    import sqlparse

    for statement in sqlparse.split(sqlparse.format(sql, strip_comments=True)):
        words = " ".join(statement.upper().split()[:3])
        if any(words == word or words.startswith(word + " ") or words.startswith(word + ";") for word in _FORBIDDEN):
            return SqlError(
                "25000",
                f"an answer may not use {words.split()[0]} "
                f"({' '.join(words.split()[:2])}): write the query or DDL only",
            )
    return None


def sql_error(exc: BaseException) -> SqlError:
    """A refusal as a :class:`SqlError`: from :mod:`.sandbox` or from psycopg2 itself."""
    if isinstance(exc, sandbox.Failed):
        return SqlError(exc.sqlstate, exc.message, exc.constraint, exc.raised_in)
    orig = getattr(exc, "orig", exc)
    code = getattr(orig, "pgcode", None) or "XX000"
    first = (str(getattr(orig, "pgerror", None) or orig).strip().splitlines() or ["error"])[0]
    diag = getattr(orig, "diag", None)
    constraint = (getattr(diag, "constraint_name", None) or getattr(diag, "column_name", None) or "") if diag else ""
    raised_in = (getattr(diag, "source_function", None) or "") if diag else ""
    return SqlError(code, first.removeprefix("ERROR:").strip(), constraint, raised_in)


def _prepare(session: sandbox.Session, fixture: str | None) -> None:
    session.begin()
    if fixture:
        try:
            session.run(fixture)
        except sandbox.Failed as exc:
            raise RuntimeError(f"the exercise's fixture failed: {sql_error(exc)}") from exc


def run_query(sql: str, fixture: str | None = None, engine: sa.Engine | None = None) -> pd.DataFrame | SqlError:
    """The rows ``sql`` returns on the fixture, run as the learner; a :class:`SqlError` if
    the database refuses it."""
    refused = forbidden(sql)
    if refused:
        return refused
    with sandbox.session(engine) as session:
        _prepare(session, fixture)
        try:
            result = session.run(sql)
        except sandbox.Failed as exc:  # the learner's SQL failed: that is an answer too
            return sql_error(exc)
    if result is None:
        return SqlError("00000", "the SQL returned no rows: it must end with a SELECT")
    return result


def run_script(
    sql: str, probes: Sequence[Probe], fixture: str | None = None, engine: sa.Engine | None = None
) -> tuple | SqlError:
    """Run ``sql`` (DDL: a table, a constraint, a trigger) as the learner, then each probe
    in its own savepoint; per probe ``("accepted", rows-or-None)`` or ``("refused", sqlstate)``."""
    refused = forbidden(sql)
    if refused:
        return refused
    outcomes: list[tuple[str, tuple | str | None]] = []  # (verdict, rows or None | sqlstate)
    with sandbox.session(engine) as session:
        _prepare(session, fixture)
        try:
            session.run(sql)
        except sandbox.Failed as exc:
            return sql_error(exc)
        for probe in probes:
            try:
                rows = session.probe(probe.sql)
                outcomes.append(("accepted", None if rows is None else _rows(rows)))
            except sandbox.Failed as exc:
                outcomes.append(("refused", exc.sqlstate))
    return tuple(outcomes)


def _rows(frame: pd.DataFrame) -> tuple:
    return tuple(tuple(_plain(v) for v in row) for row in frame.itertuples(index=False))


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float):
        return round(value, 6)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


# --- comparing results ----------------------------------------------------------------


def same(got: Any, expected: Any, ordered: bool = True) -> bool:
    """Equal results: frames with the same columns and rows (floats to 6 places)."""
    if isinstance(got, pd.DataFrame) and isinstance(expected, pd.DataFrame):
        return compare_frames(got, expected, ordered) is None
    return got == expected


def compare_frames(got: pd.DataFrame, expected: pd.DataFrame, ordered: bool = True) -> str | None:
    """None when equal; otherwise one sentence saying how ``got`` differs."""
    got_cols = [str(c).lower() for c in got.columns]
    exp_cols = [str(c).lower() for c in expected.columns]
    if got_cols != exp_cols:
        missing = [c for c in exp_cols if c not in got_cols]
        extra = [c for c in got_cols if c not in exp_cols]
        if not missing and not extra:
            return (
                f"Right columns, wrong order: expected ({', '.join(exp_cols)}), "
                f"your query gives ({', '.join(got_cols)})."
            )
        said = []
        if missing:
            said.append(f"missing column(s) {', '.join(missing)} (name them with AS)")
        if extra:
            said.append(f"unexpected column(s) {', '.join(extra)}")
        return f"Your result has columns ({', '.join(got_cols)}): {'; '.join(said)}."
    got_rows, exp_rows = _rows(got), _rows(expected)
    if len(got_rows) != len(exp_rows):
        return f"Your query returns {len(got_rows)} row(s); expected {len(exp_rows)}."
    if got_rows == exp_rows:
        return None
    if sorted(map(repr, got_rows)) == sorted(map(repr, exp_rows)):
        return None if not ordered else "Right rows, wrong order: check your ORDER BY."
    for index, (g, e) in enumerate(zip(got_rows, exp_rows, strict=False)):
        if g != e:
            return f"Row {index + 1} differs: your query gives {g}, expected {e}."
    return "Your result differs from the expected one."  # pragma: no cover


# Hints for errors learners make often, by SQLSTATE.
ERROR_TIPS = {
    "42P01": "a table name the database does not know: check its spelling and its schema "
    "(e.g. bank.accounts); unqualified names are looked up in practice, then public.",
    "42703": "a column name the table does not have: check its spelling.",
    "42803": "every selected column must be in GROUP BY or inside an aggregate.",
    "42601": "a syntax error: look just before the place the message names.",
    "42501": "the learner role may not do that: it reads course data and writes only in its "
    "schema `practice`{private}.",
    "57014": "the statement ran longer than the check allows: is a join condition missing?",
    "25000": "COMMIT, ROLLBACK, BEGIN and SAVEPOINT belong to the check, not to the answer.",
}


def explain(error: SqlError) -> str:
    tip = ERROR_TIPS.get(error.sqlstate, "")
    if error.sqlstate == "42501":
        private = ", ".join(learner.PRIVATE_COLUMNS)
        tip = tip.format(
            private=f"; private columns ({private}) are never readable, so name "
            "the columns you need instead of SELECT *"
        )
    return f"Your SQL failed: {error.message}" + (f" — {tip}" if tip else "")


_SAVE = re.compile(r"^\s*%%sql\b.*?(?:--save|-S)\s+([A-Za-z_][A-Za-z0-9_]*)")


def saved_name(cell_text: str) -> str | None:
    """The ``--save NAME`` of a ``%%sql`` cell's first line, or None."""
    first = cell_text.strip().splitlines()[0] if cell_text.strip() else ""
    match = _SAVE.match(first)
    return match.group(1) if match else None
