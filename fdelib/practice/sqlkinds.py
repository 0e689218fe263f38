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
    # A query on live data (``bank.accounts``) runs on it, and also on a small copy whose data
    # separates the right query from the wrong ones whatever the notebook's parameters: ``copy``
    # creates its tables, unqualified; the answer's names in the schemas ``copy_of`` then
    # resolve to them (``bank.accounts`` is read as ``accounts``). ``copy_says`` describes it.
    copy: str | None = None
    copy_of: tuple[str, ...] = ()
    copy_says: str = ""
    cache_expected = False  # (a class attribute, not a field)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.kind = "sql"
        if self.copy and not self.copy_of:
            raise ExerciseError(f"exercise {self.id}: name the schemas the copy stands in for (copy_of)")

    def read(self, namespace):
        from . import sqlcell

        text = sqlcell.saved(self.id)
        return MISSING if sqlcheck.is_blank(text) else text

    def from_text(self, text, namespace):
        query = sqlcheck.strip_magic(text)
        return MISSING if sqlcheck.is_blank(query) else query

    def behaviour(self, answer):
        live = sqlcheck.run_query(answer, self.fixture)
        if not self.copy:
            return live
        return live, sqlcheck.run_query(unqualified(answer, self.copy_of), self.copy)

    def expected(self):
        reference = self.reference or sqlcheck.strip_magic(self.solution())
        result = self.behaviour(reference)
        for found in result if self.copy else (result,):
            if isinstance(found, sqlcheck.SqlError):
                raise ExerciseError(f"exercise {self.id}: the reference query fails on the fixture: {found}")
        return result

    def difference(self, got, expected):
        if not self.copy:
            return self.difference_on(got, expected)
        said = self.difference_on(got[0], expected[0])
        if said is not None:
            return said
        said = self.difference_on(got[1], expected[1])
        return None if said is None else f"On {self.copy_says or 'a small copy of the tables'}: {said}"

    def difference_on(self, got, expected):
        errors = isinstance(got, sqlcheck.SqlError), isinstance(expected, sqlcheck.SqlError)
        if all(errors):  # (only a catalogued wrong answer's behaviour may be an error)
            return None if got == expected else sqlcheck.explain(got)
        if errors[0]:
            return sqlcheck.explain(got)
        if errors[1]:
            return "Your query ran, but this answer fails."
        return sqlcheck.compare_frames(got, expected, self.ordered)


def unqualified(sql: str, schemas: tuple[str, ...]) -> str:
    """``sql`` with the schema names ``schemas`` taken off its table names (``bank.accounts``
    becomes ``accounts``), so a copy's tables in the check's scratch schema stand in for them."""
    import sqlparse
    from sqlparse import tokens

    names = {schema.lower() for schema in schemas}
    flat = [token for statement in sqlparse.parse(sql) for token in statement.flatten()]
    kept, skip = [], 0
    for index, token in enumerate(flat):
        if skip:
            skip -= 1
            continue
        word = token.value.strip('"').lower()
        following = flat[index + 1] if index + 1 < len(flat) else None
        if (
            token.ttype in (tokens.Name, tokens.Literal.String.Symbol)
            and word in names
            and following is not None
            and following.ttype is tokens.Punctuation
            and following.value == "."
        ):
            skip = 1
            continue
        kept.append(token.value)
    return "".join(kept)


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
