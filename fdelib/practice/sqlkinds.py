"""The SQL kinds: a query checked by its rows (:class:`SqlQuery`), DDL checked by what it
accepts and refuses (:class:`SqlScript`), a statement one named constraint must refuse
(:class:`RefusedBy`). The learner's SQL runs through :mod:`.sqlcheck` (as the ``learner``
role, in a rolled-back transaction).
"""

from __future__ import annotations

import dataclasses
import re

from . import sqlcheck
from .base import MISSING, Exercise, ExerciseError


@dataclasses.dataclass
class SqlQuery(Exercise):
    """A query, checked by its rows on a known fixture against the lesson's query.

    The learner's answer is the ``%%sql --save ID`` cell (jupysql keeps its text); the check
    runs it again as the learner inside a rolled-back transaction, after ``fixture`` (SQL that
    creates the data the check knows; unqualified table names in it shadow the lesson's).
    """

    fixture: str | None = None
    reference: str | None = None  # default: the lesson's answer cell (the solution)
    ordered: bool = True
    cache_expected = False  # (a class attribute, not a field)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.kind = "sql"

    def read(self, namespace):
        from . import sqlcell

        text = sqlcell.saved(self.id)
        return MISSING if sqlcheck.is_blank(text) else text

    def from_text(self, text, namespace):
        query = sqlcheck.strip_magic(text)
        return MISSING if sqlcheck.is_blank(query) else query

    def behaviour(self, answer):
        return sqlcheck.run_query(answer, self.fixture)

    def expected(self):
        reference = self.reference or sqlcheck.strip_magic(self.solution())
        result = sqlcheck.run_query(reference, self.fixture)
        if isinstance(result, sqlcheck.SqlError):
            raise ExerciseError(f"exercise {self.id}: the reference query fails on the fixture: {result}")
        return result

    def difference(self, got, expected):
        errors = isinstance(got, sqlcheck.SqlError), isinstance(expected, sqlcheck.SqlError)
        if all(errors):  # (only a catalogued wrong answer's behaviour may be an error)
            return None if got == expected else sqlcheck.explain(got)
        if errors[0]:
            return sqlcheck.explain(got)
        if errors[1]:
            return "Your query ran, but this answer fails."
        return sqlcheck.compare_frames(got, expected, self.ordered)


@dataclasses.dataclass
class SqlScript(Exercise):
    """DDL (a table, a constraint, a trigger), checked by what it accepts and refuses.

    The learner's ``%%sql --save ID`` script runs as the learner in a scratch schema (write
    table names without a schema), then each probe runs in its own savepoint; the answer
    passes when every probe is accepted or refused as the reference script's is.
    """

    probes: tuple[sqlcheck.Probe, ...] = ()
    fixture: str | None = None
    reference: str | None = None
    cache_expected = False

    def __post_init__(self) -> None:
        super().__post_init__()
        self.kind = "sql-script"
        if not self.probes:
            raise ExerciseError(f"exercise {self.id}: give the probes that show the behaviour")

    read = SqlQuery.read
    from_text = SqlQuery.from_text

    def behaviour(self, answer):
        return sqlcheck.run_script(answer, self.probes, self.fixture)

    def expected(self):
        reference = self.reference or sqlcheck.strip_magic(self.solution())
        result = sqlcheck.run_script(reference, self.probes, self.fixture)
        if isinstance(result, sqlcheck.SqlError):
            raise ExerciseError(f"exercise {self.id}: the reference script fails: {result}")
        for probe, (status, _) in zip(self.probes, result, strict=False):
            if status != probe.expect:
                raise ExerciseError(
                    f"exercise {self.id}: the reference script leaves probe "
                    f"{probe.label!r} {status}, the catalogue says {probe.expect}"
                )
        return result

    def difference(self, got, expected):
        if isinstance(got, sqlcheck.SqlError):
            return sqlcheck.explain(got)
        for probe, mine, theirs in zip(self.probes, got, expected, strict=False):
            if mine[0] != theirs[0]:
                verb = "accepted" if mine[0] == "accepted" else "refused"
                return f"{probe.label}: your SQL {verb} it; it should be {theirs[0]}."
            if mine != theirs:
                return f"{probe.label}: accepted, but it returned {mine[1]}, expected {theirs[1]}."
        return None


# where PostgreSQL names what refused a row, in its error message
_REFUSING_CONSTRAINT = re.compile(r'constraint "([^"]+)"')
_REFUSED_COLUMN = re.compile(r'column "([^"]+)"')


@dataclasses.dataclass
class RefusedBy(SqlQuery):
    """A statement that one named constraint must refuse, on ``fixture`` (which has it): a
    statement refused by another rule (a key, another CHECK) proves nothing about this one."""

    constraint: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.kind = "sql-refused"

    def behaviour(self, answer):
        result = sqlcheck.run_query(answer, self.fixture)
        if not isinstance(result, sqlcheck.SqlError) or result.sqlstate == "00000":
            return ("accepted", "")
        if result.sqlstate == "23502":  # not_null_violation: no constraint name
            found = _REFUSED_COLUMN.search(result.message)
            return ("refused", f"NOT NULL on {found.group(1)}" if found else "a NOT NULL")
        if result.sqlstate.startswith("23"):  # integrity constraint violation
            found = _REFUSING_CONSTRAINT.search(result.message)
            return ("refused", found.group(1) if found else result.message)
        return ("error", sqlcheck.explain(result))

    def expected(self):
        return ("refused", self.constraint)

    def difference(self, got, expected):
        if got == expected:
            return None
        if got[0] == "accepted":
            return "The database accepted your statement: a proof of a refusal needs a row that breaks the rule."
        if got[0] == "refused":
            return (
                f"Refused, but by {got[1]}, not by {self.constraint}: your statement would be "
                f"refused without {self.constraint} too, so it proves nothing about it."
            )
        return got[1]


def sql_blank(exercise_id: str, what: str = "query") -> str:
    """A ``%%sql`` answer cell that runs without error (a bare comment would make jupysql
    fail, and "Run All" stop there) and that the check recognises as not answered yet."""
    return (
        f"%%sql --save {exercise_id}\n"
        f"-- Replace this placeholder with your {what}, run this cell, then the check below.\n"
        "SELECT 'your answer here' AS todo\n"
    )
