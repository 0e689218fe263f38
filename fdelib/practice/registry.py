"""The registry and the catalogue: every exercise of the course by id, and the
:class:`Catalog` a catalogue module (``fdelib/practice/catalog/<module>.py``) declares a
notebook's exercises on.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from . import sqlcheck
from .base import Exercise, ExerciseError, Wrong
from .pykinds import Case, Choice, FunctionCases, Value
from .sqlkinds import SqlQuery, SqlScript, sql_blank

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
    return get(exercise_id).solution()


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
        hint_levels: Sequence[str] = (),
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
                hint_levels=tuple(hint_levels),
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
        hint_levels: Sequence[str] = (),
        fixture: str | None = None,
        reference: str | None = None,
        ordered: bool = True,
        blank: str | None = None,
        copy: str | None = None,
        copy_of: Sequence[str] = (),
        copy_says: str = "",
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
            hint_levels=hint_levels,
            fixture=fixture,
            reference=reference,
            ordered=ordered,
            copy=copy,
            copy_of=tuple(copy_of),
            copy_says=copy_says,
        )

    def sql_script(
        self,
        exercise_id: str,
        *,
        probes: Sequence[sqlcheck.Probe],
        blank_hint: str,
        wrong: Sequence[Wrong],
        passed: str,
        hint_levels: Sequence[str] = (),
        fixture: str | None = None,
        reference: str | None = None,
        blank: str | None = None,
        says: Mapping[str, str] | None = None,
    ) -> SqlScript:
        """DDL whose probes must be accepted or refused as the lesson's script's are
        (``says``: the message for a probe whose rows differ, by its label)."""
        blank = blank or sql_blank(exercise_id, "SQL")
        return self._add(
            SqlScript,
            exercise_id,
            blank,
            blank_hint,
            wrong,
            passed,
            hint_levels=hint_levels,
            probes=tuple(probes),
            fixture=fixture,
            reference=reference,
            says=dict(says or {}),
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
        hint_levels: Sequence[str] = (),
        hidden: Sequence[Case] = (),
    ) -> FunctionCases:
        """A Python function called on test vectors (``Case(args, expected)``); ``hidden`` ones
        are tried too but never shown (an answer that looks the shown ones up fails them)."""
        return self._add(
            FunctionCases,
            exercise_id,
            blank,
            blank_hint,
            wrong,
            passed,
            hint_levels=hint_levels,
            name=name,
            cases=tuple(cases),
            hidden=tuple(hidden),
        )

    def value(
        self,
        exercise_id: str,
        *,
        name: str,
        answer: Any,
        blank_hint: str,
        wrong: Sequence[Wrong],
        passed: str,
        hint_levels: Sequence[str] = (),
        tolerance: float = 0.0,
        blank: str | None = None,
        key: Any = None,
    ) -> Value:
        """A value assigned to ``name`` (numbers within ``tolerance``); ``answer`` may be a
        function of the notebook's namespace (derived from its parameters), ``key`` a
        function that both values are compared through."""
        blank = blank or f"{name} = ...\n"
        return self._add(
            Value,
            exercise_id,
            blank,
            blank_hint,
            wrong,
            passed,
            hint_levels=hint_levels,
            name=name,
            answer=answer,
            tolerance=tolerance,
            key=key,
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
        hint_levels: Sequence[str] = (),
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
            Choice,
            exercise_id,
            blank,
            blank_hint,
            wrong,
            passed,
            hint_levels=hint_levels,
            name=name,
            options=dict(options),
            correct=correct,
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
        hint_levels: Sequence[str] = (),
        timeout: float = 30,
    ) -> Exercise:
        """A workflow definition (``ConductorWorkflow`` or its JSON) run on the engine with
        each ``WorkflowRun(input, status, output)``."""
        from .workflowcheck import WorkflowRuns

        return self._add(
            WorkflowRuns,
            exercise_id,
            blank,
            blank_hint,
            wrong,
            passed,
            hint_levels=hint_levels,
            name=name,
            runs=tuple(runs),
            timeout=timeout,
        )

    def add(self, exercise: Exercise) -> Exercise:
        """A kind of your own (a subclass of :class:`Exercise`)."""
        return register(exercise)
