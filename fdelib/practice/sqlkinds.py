"""The SQL kinds: a query checked by its rows (:class:`SqlQuery`), DDL checked by what it
accepts and refuses (:class:`SqlScript`), a statement one named constraint must refuse
(:class:`RefusedBy`). The learner's SQL runs through :mod:`.sqlcheck` (as the ``learner``
role, in a rolled-back transaction).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

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
    # what to say, in plain words, when a probe's rows differ (by the probe's label): e.g. the
    # probe that counts a constraint of the required name says which name to write
    says: Mapping[str, str] = dataclasses.field(default_factory=dict)
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
                if probe.label in self.says:
                    return self.says[probe.label]
                return f"{probe.label}: accepted, but it returned {mine[1]}, expected {theirs[1]}."
        return None


@dataclasses.dataclass
class RefusedBy(SqlQuery):
    """A statement that one named constraint must refuse, on ``fixture`` (which has it).

    A proof must prove: the refusal is judged by the driver's diagnostics (the constraint it
    names, the server function that raised it), never by the message's words, and by the
    counterfactual — the same statement, run once more on the fixture with that constraint
    dropped, must then be accepted. A statement refused by another rule too (a duplicate key,
    a missing foreign key, another CHECK) and an error the answer raises itself (RAISE ...
    CONSTRAINT = ...) prove nothing about the rule."""

    constraint: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.kind = "sql-refused"

    def without_rule(self) -> str:
        """Fixture SQL that drops the constraint (whichever scratch table has it)."""
        name = self.constraint.replace("'", "''")
        return (
            "\nDO $without$ DECLARE r record; BEGIN\n"
            f"  FOR r IN SELECT conrelid::regclass AS t FROM pg_constraint WHERE conname = '{name}'\n"
            "           AND connamespace = current_schema()::regnamespace LOOP\n"
            f"    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.t, '{name}');\n"
            "  END LOOP; END $without$;\n"
        )

    @staticmethod
    def refused_by(error: sqlcheck.SqlError) -> str:
        if error.sqlstate == "23502":  # not_null_violation: the diagnostics name the column
            return f"NOT NULL on {error.constraint}" if error.constraint else "a NOT NULL"
        return error.constraint or f"a rule with no name (SQLSTATE {error.sqlstate})"

    def behaviour(self, answer):
        result = sqlcheck.run_query(answer, self.fixture)
        if not isinstance(result, sqlcheck.SqlError) or result.sqlstate == "00000":
            return ("accepted", "")
        if not result.sqlstate.startswith("23"):  # not an integrity constraint violation
            return ("error", sqlcheck.explain(result))
        if result.raised_in == "exec_stmt_raise":  # a RAISE: PL/pgSQL code, not the table's rule
            return ("raised", self.refused_by(result))
        name = self.refused_by(result)
        if name != self.constraint:
            return ("refused", name)
        without = sqlcheck.run_query(answer, (self.fixture or "") + self.without_rule())
        if isinstance(without, sqlcheck.SqlError) and without.sqlstate != "00000":
            other = self.refused_by(without) if without.sqlstate.startswith("23") else without.message
            return ("refused anyway", other)
        return ("refused", name)

    def expected(self):
        return ("refused", self.constraint)

    def difference(self, got, expected):
        if got == expected:
            return None
        if got[0] == "accepted":
            return "The database accepted your statement: a proof of a refusal needs a row that breaks the rule."
        if got[0] == "raised":
            return (
                "That error comes from a RAISE in your own code, not from the table: it proves nothing "
                f"about {self.constraint}. Write the INSERT or UPDATE that the table itself refuses."
            )
        if got[0] == "refused anyway":
            return (
                f"Refused by {self.constraint}, but with {self.constraint} dropped the same statement is "
                f"still refused ({got[1]}): it would pass even if the rule were missing, so it proves "
                f"nothing. Make the row valid in every other way, so that only {self.constraint} can refuse it."
            )
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
