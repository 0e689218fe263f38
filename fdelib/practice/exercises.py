"""Exercises and their checks: what an answer must DO, and what to say when it does not.

An exercise in a notebook is three cells — the question (markdown), the answer (a ``%%sql
--save ID`` cell or Python), the check (``check("ID")``) — plus its entry in a catalogue
module (``fdelib/practice/catalog/``) that says how to check it:

* how to read the learner's answer (the saved ``%%sql`` snippet, a variable, a function);
* its **behaviour**: SQL run as the learner on a known fixture, a function called on test
  vectors, a workflow run on the engine, a value;
* what is expected (the lesson's own answer cell for SQL, given values otherwise);
* the **blank** answer a practice copy starts from, and the hint shown while it is blank;
* **wrong answers** learners plausibly write, each as the cell text they would type and a
  hint of its own: the check recognises one by running it the same way and comparing
  behaviours (so a wrong answer is caught whatever its spelling);
* the message shown when it passes.

A check never reads the answer's text to judge it: it runs it. See CONTRIBUTING.md.
"""

from __future__ import annotations

import dataclasses
import difflib
import html
import importlib
import math
import pkgutil
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from ..errors import FdeError
from . import sqlcheck


class ExerciseError(FdeError):
    """An exercise is unknown or defined wrongly (an authoring problem, not a wrong answer)."""


MISSING = object()  # the answer is not there at all (cell not run, variable not defined)


@dataclasses.dataclass(frozen=True)
class Wrong:
    """A plausible wrong answer: the cell text a learner would type, and its own hint."""

    answer: str
    hint: str


@dataclasses.dataclass
class Outcome:
    """What a check found; shown under the check cell (deterministic, for nbval)."""

    exercise: str
    status: str  # "passed", "blank", "wrong" (a catalogued mistake) or "failed"
    message: str

    ICONS: ClassVar[dict[str, str]] = {"passed": "✅", "blank": "✏️", "wrong": "💡", "failed": "❌"}
    TITLES: ClassVar[dict[str, str]] = {
        "passed": "passed",
        "blank": "not answered yet",
        "wrong": "not yet",
        "failed": "not yet",
    }
    COLOURS: ClassVar[dict[str, str]] = {
        "passed": "#17803d",
        "blank": "#8a6d00",
        "wrong": "#b54708",
        "failed": "#b42318",
    }

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def __repr__(self) -> str:
        return f"{self.ICONS[self.status]} {self.exercise}: {self.TITLES[self.status]}. {self.message}"

    def _repr_html_(self) -> str:
        colour = self.COLOURS[self.status]
        return (
            f'<div class="fde-check fde-check-{self.status}" style="border-left: 4px solid '
            f'{colour}; padding: .3rem .7rem; margin: .2rem 0"><strong style="color: {colour}">'
            f"{self.ICONS[self.status]} {html.escape(self.exercise)}: {self.TITLES[self.status]}."
            f"</strong> {html.escape(self.message)}</div>"
        )

    def to_dict(self) -> dict[str, str]:
        return {"exercise": self.exercise, "status": self.status, "message": self.message}


@dataclasses.dataclass
class Exercise:
    """The common part of every kind; a kind supplies ``read``, ``from_text``,
    ``behaviour``, ``expected`` and ``difference``."""

    id: str
    notebook: str  # relative to notebooks/ (or an absolute path, for tests)
    blank: str  # the answer cell of a practice copy
    blank_hint: str
    wrong: tuple[Wrong, ...]
    passed: str
    kind: str = dataclasses.field(default="", init=False)

    def __post_init__(self) -> None:
        if not self.id.isidentifier():
            raise ExerciseError(f"exercise id {self.id!r} must be a Python identifier (letters, digits, underscores)")
        if not self.wrong:
            raise ExerciseError(
                f"exercise {self.id}: catalogue at least one plausible wrong "
                "answer with its own hint (wrong=[Wrong(answer, hint)])"
            )
        self._expected = MISSING

    # --- what a kind provides ---------------------------------------------------------
    def read(self, namespace: Mapping[str, Any]) -> Any:
        """The learner's answer as the kernel holds it, or MISSING."""
        raise NotImplementedError

    def from_text(self, text: str, namespace: Mapping[str, Any]) -> Any:
        """The answer a cell holding ``text`` would give (used for blank and wrong answers)."""
        raise NotImplementedError

    def behaviour(self, answer: Any) -> Any:
        """What the answer does (rows, return values, workflow results...)."""
        raise NotImplementedError

    def expected(self) -> Any:
        """The behaviour a right answer has."""
        raise NotImplementedError

    def difference(self, got: Any, expected: Any) -> str | None:
        """None when ``got`` is right; otherwise a hint saying how it differs."""
        raise NotImplementedError

    def same(self, a: Any, b: Any) -> bool:
        return self.difference(a, b) is None

    # --- the check ----------------------------------------------------------------------
    cache_expected = True  # SQL kinds say False: without a fixture they read live data

    def expected_behaviour(self) -> Any:
        if not self.cache_expected:
            return self.expected()
        if self._expected is MISSING:
            self._expected = self.expected()
        return self._expected

    def check(self, namespace: Mapping[str, Any]) -> Outcome:
        answer = self.read(namespace)
        if answer is MISSING:
            return Outcome(self.id, "blank", self.blank_hint)
        got = self.behaviour(answer)
        hint = self.difference(got, self.expected_behaviour())
        if hint is None:
            return Outcome(self.id, "passed", self.passed)
        blank = self.from_text(self.blank, namespace)
        if blank is not MISSING and self.same(got, self.behaviour(blank)):
            return Outcome(self.id, "blank", self.blank_hint)
        for wrong in self.wrong:
            candidate = self.from_text(wrong.answer, namespace)
            if candidate is not MISSING and self.same(got, self.behaviour(candidate)):
                return Outcome(self.id, "wrong", wrong.hint)
        return Outcome(self.id, "failed", hint)


# --- kinds -----------------------------------------------------------------------------


def _answer(found: Any) -> Any:
    """What an answer variable holds, or MISSING while it is still the blank's ``...`` (or None)."""
    return MISSING if found is Ellipsis or found is None else found


def _exec(text: str, namespace: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Run Python cell text in a fresh namespace (a copy of ``namespace``'s names)."""
    scope: dict[str, Any] = dict(namespace or {})
    scope.setdefault("__builtins__", __builtins__)
    exec(compile(text, "<catalogued answer>", "exec"), scope)
    return scope


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
        reference = self.reference or sqlcheck.strip_magic(solution(self.id))
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
        reference = self.reference or sqlcheck.strip_magic(solution(self.id))
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


def _normalise(value: Any, places: int = 9) -> Any:
    if isinstance(value, float):
        return value if math.isnan(value) else round(value, places)
    if isinstance(value, (list, tuple)):
        return type(value)(_normalise(v, places) for v in value)
    if isinstance(value, dict):
        return {k: _normalise(v, places) for k, v in value.items()}
    return value


@dataclasses.dataclass(frozen=True)
class Raises:
    """An expected exception in a test vector: ``Case(("",), Raises(ValueError))``."""

    error: type[BaseException]

    def __repr__(self) -> str:
        return f"raises {self.error.__name__}"


@dataclasses.dataclass(frozen=True)
class Case:
    """A test vector: the arguments, and what the function must return (or ``Raises``)."""

    args: tuple
    expected: Any

    def call(self, name: str) -> str:
        return f"{name}({', '.join(map(repr, self.args))})"


@dataclasses.dataclass
class FunctionCases(Exercise):
    """A Python function, checked by calling it on test vectors."""

    name: str = ""  # the function's name in the notebook
    cases: tuple[Case, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        self.kind = "function"
        if not self.name or not self.cases:
            raise ExerciseError(f"exercise {self.id}: give the function's name and its cases")

    def read(self, namespace):
        found = namespace.get(self.name, MISSING)
        return found if callable(found) else MISSING

    def from_text(self, text, namespace):
        found = _exec(text).get(self.name, MISSING)
        return found if callable(found) else MISSING

    def behaviour(self, answer):
        results = []
        for case in self.cases:
            try:
                results.append(_normalise(answer(*case.args)))
            except Exception as exc:  # an exception is a behaviour too
                results.append(Raises(type(exc)))
        return tuple(results)

    def expected(self):
        return tuple(_normalise(c.expected) for c in self.cases)

    def difference(self, got, expected):
        for case, mine, theirs in zip(self.cases, got, expected, strict=False):
            if isinstance(theirs, Raises) and isinstance(mine, Raises) and issubclass(mine.error, theirs.error):
                continue
            if mine != theirs or (type(mine) is not type(theirs) and not _numbers(mine, theirs)):
                shown = repr(mine) if isinstance(mine, Raises) else f"returned {mine!r}"
                return f"{case.call(self.name)} {shown}; expected {theirs!r}."
        return None


def _numbers(a: Any, b: Any) -> bool:
    return isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool)


@dataclasses.dataclass
class Value(Exercise):
    """A value answer (a count, a rate, a name), with a tolerance for numbers."""

    name: str = ""  # the variable the answer cell assigns
    answer: Any = None
    tolerance: float = 0.0  # absolute, for numbers

    def __post_init__(self) -> None:
        super().__post_init__()
        self.kind = "value"
        if not self.name:
            raise ExerciseError(f"exercise {self.id}: give the answer variable's name")

    def read(self, namespace):
        return _answer(namespace.get(self.name, MISSING))

    def from_text(self, text, namespace):
        return _answer(_exec(text).get(self.name, MISSING))

    def behaviour(self, answer):
        return answer

    def expected(self):
        return self.answer

    def difference(self, got, expected):
        if _numbers(got, expected):
            if abs(got - expected) <= self.tolerance:
                return None
            return f"{self.name} = {got!r} is not it."
        if isinstance(got, str) and isinstance(expected, str):
            return None if got.strip().lower() == expected.strip().lower() else f"{self.name} = {got!r} is not it."
        return None if got == expected else f"{self.name} = {got!r} is not it."


@dataclasses.dataclass
class Choice(Exercise):
    """A multiple-choice question: the answer variable holds an option's letter."""

    name: str = ""
    options: Mapping[str, str] = dataclasses.field(default_factory=dict)
    correct: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.kind = "choice"
        if self.correct not in self.options:
            raise ExerciseError(
                f"exercise {self.id}: correct={self.correct!r} is not one of the options {sorted(self.options)}"
            )

    def _letter(self, found: Any) -> Any:
        if found is Ellipsis or found is None or found is MISSING:
            return MISSING
        text = str(found).strip()
        for key, option in self.options.items():
            if text.upper() == key.upper() or text.lower() == option.strip().lower():
                return key
        return text

    def read(self, namespace):
        return self._letter(namespace.get(self.name, MISSING))

    def from_text(self, text, namespace):
        return self._letter(_exec(text).get(self.name, MISSING))

    def behaviour(self, answer):
        return answer

    def expected(self):
        return self.correct

    def difference(self, got, expected):
        if got == expected:
            return None
        if got not in self.options:
            return f"{got!r} is not one of the options ({', '.join(self.options)})."
        return f"{got} is not the best answer."


# --- the catalogue --------------------------------------------------------------------

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


_REGISTRY: dict[str, Exercise] = {}
_E = TypeVar("_E", bound=Exercise)
_LOADED = False


def register(exercise: _E) -> _E:
    known = _REGISTRY.get(exercise.id)
    if known is not None and known.notebook != exercise.notebook:
        raise ExerciseError(
            f"exercise id {exercise.id!r} is used twice ({known.notebook} and "
            f"{exercise.notebook}): ids are unique in the course"
        )
    _REGISTRY[exercise.id] = exercise
    return exercise


def load_catalog() -> dict[str, Exercise]:
    """Import every module of ``fdelib.practice.catalog`` (each registers its exercises)."""
    global _LOADED
    if not _LOADED:
        from . import catalog

        for module in pkgutil.iter_modules(catalog.__path__):
            importlib.import_module(f"{catalog.__name__}.{module.name}")
        _LOADED = True
    return dict(_REGISTRY)


def get(exercise_id: str) -> Exercise:
    load_catalog()
    try:
        return _REGISTRY[exercise_id]
    except KeyError:
        close = difflib.get_close_matches(exercise_id, list(_REGISTRY), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ExerciseError(f"no exercise named {exercise_id!r}{hint}") from None


def solution(exercise_id: str) -> str:
    """The exercise's solution: the answer cell of the lesson (the committed notebook)."""
    from . import notebook

    return notebook.solution(get(exercise_id))


def sql_blank(exercise_id: str, what: str = "query") -> str:
    """A ``%%sql`` answer cell that runs without error (a bare comment would make jupysql
    fail, and "Run All" stop there) and that the check recognises as not answered yet."""
    return (
        f"%%sql --save {exercise_id}\n"
        f"-- Replace this placeholder with your {what}, run this cell, then the check below.\n"
        "SELECT 'your answer here' AS todo\n"
    )


class Catalog:
    """The exercises of one notebook, declared in ``fdelib/practice/catalog/<module>.py``::

    catalog = Catalog("00_start_here.ipynb")
    catalog.sql_query("latest_close", fixture=..., blank_hint=..., wrong=[...], passed=...)
    """

    def __init__(self, notebook: str):
        self.notebook = notebook

    def _add(
        self,
        cls: type[_E],
        exercise_id: str,
        blank: str,
        blank_hint: str,
        wrong: Sequence[Wrong],
        passed: str,
        **fields: Any,
    ) -> _E:
        return register(
            cls(
                id=exercise_id,
                notebook=self.notebook,
                blank=blank,
                blank_hint=blank_hint,
                wrong=tuple(wrong),
                passed=passed,
                **fields,
            )
        )

    def sql_query(
        self,
        exercise_id: str,
        *,
        blank_hint: str,
        wrong: Sequence[Wrong],
        passed: str,
        fixture: str | None = None,
        reference: str | None = None,
        ordered: bool = True,
        blank: str | None = None,
    ) -> SqlQuery:
        """A ``%%sql --save ID`` query compared, row for row, with the lesson's on ``fixture``."""
        blank = blank or sql_blank(exercise_id, "query")
        return self._add(
            SqlQuery,
            exercise_id,
            blank,
            blank_hint,
            wrong,
            passed,
            fixture=fixture,
            reference=reference,
            ordered=ordered,
        )

    def sql_script(
        self,
        exercise_id: str,
        *,
        probes: Sequence[sqlcheck.Probe],
        blank_hint: str,
        wrong: Sequence[Wrong],
        passed: str,
        fixture: str | None = None,
        reference: str | None = None,
        blank: str | None = None,
    ) -> SqlScript:
        """DDL whose probes must be accepted or refused as the lesson's script's are."""
        blank = blank or sql_blank(exercise_id, "SQL")
        return self._add(
            SqlScript,
            exercise_id,
            blank,
            blank_hint,
            wrong,
            passed,
            probes=tuple(probes),
            fixture=fixture,
            reference=reference,
        )

    def function(
        self,
        exercise_id: str,
        *,
        name: str,
        cases: Sequence[Case],
        blank: str,
        blank_hint: str,
        wrong: Sequence[Wrong],
        passed: str,
    ) -> FunctionCases:
        """A Python function called on test vectors (``Case(args, expected)``)."""
        return self._add(FunctionCases, exercise_id, blank, blank_hint, wrong, passed, name=name, cases=tuple(cases))

    def value(
        self,
        exercise_id: str,
        *,
        name: str,
        answer: Any,
        blank_hint: str,
        wrong: Sequence[Wrong],
        passed: str,
        tolerance: float = 0.0,
        blank: str | None = None,
    ) -> Value:
        """A value assigned to ``name`` (numbers within ``tolerance``)."""
        blank = blank or f"{name} = ...\n"
        return self._add(
            Value, exercise_id, blank, blank_hint, wrong, passed, name=name, answer=answer, tolerance=tolerance
        )

    def choice(
        self,
        exercise_id: str,
        *,
        name: str,
        options: Mapping[str, str],
        correct: str,
        hints: Mapping[str, str],
        blank_hint: str,
        passed: str,
        blank: str | None = None,
    ) -> Choice:
        """Multiple choice: ``name = "B"``; every wrong option has its own hint."""
        missing = set(options) - {correct} - set(hints)
        if missing:
            raise ExerciseError(
                f"exercise {exercise_id}: give a hint for every wrong option (missing: {', '.join(sorted(missing))})"
            )
        wrong = [Wrong(f"{name} = {key!r}\n", hint) for key, hint in hints.items()]
        blank = blank or f"{name} = ...   # one of {', '.join(map(repr, options))}\n"
        return self._add(
            Choice, exercise_id, blank, blank_hint, wrong, passed, name=name, options=dict(options), correct=correct
        )

    def workflow(
        self,
        exercise_id: str,
        *,
        name: str,
        runs: Sequence[Any],
        blank: str,
        blank_hint: str,
        wrong: Sequence[Wrong],
        passed: str,
        timeout: float = 30,
    ) -> Exercise:
        """A workflow definition (``ConductorWorkflow`` or its JSON) run on the engine with
        each ``WorkflowRun(input, status, output)``."""
        from .workflowcheck import WorkflowRuns

        return self._add(
            WorkflowRuns, exercise_id, blank, blank_hint, wrong, passed, name=name, runs=tuple(runs), timeout=timeout
        )

    def add(self, exercise: Exercise) -> Exercise:
        """A kind of your own (a subclass of :class:`Exercise`)."""
        return register(exercise)
