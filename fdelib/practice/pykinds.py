"""The Python kinds: a function called on test vectors (:class:`FunctionCases`, with
:class:`Case` and :class:`Raises`), a value (:class:`Value`), a multiple choice (:class:`Choice`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from .base import MISSING, Exercise, ExerciseError, answer_of, run_cell


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
        found = run_cell(text).get(self.name, MISSING)
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
        return answer_of(namespace.get(self.name, MISSING))

    def from_text(self, text, namespace):
        return answer_of(run_cell(text).get(self.name, MISSING))

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
        return self._letter(run_cell(text).get(self.name, MISSING))

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
