"""The Python kinds: a function called on test vectors (:class:`FunctionCases`, with
:class:`Case` and :class:`Raises`), a value (:class:`Value`), a multiple choice (:class:`Choice`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
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


def type_difference(got: Any, expected: Any, where: str = "") -> str | None:
    """Where ``got`` has another type than ``expected`` (inside lists, tuples and dicts: a
    tuple is not a list, an int is not a float), in words; None when the types agree."""
    if isinstance(expected, (list, tuple)):
        if type(got) is not type(expected):
            return f"{where or 'the result'} is a {type(got).__name__}, expected a {type(expected).__name__}"
        for index, (mine, theirs) in enumerate(zip(got, expected, strict=False)):
            said = type_difference(mine, theirs, f"{where}[{index}]" if where else f"element [{index}]")
            if said:
                return said
        return None
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return f"{where or 'the result'} is a {type(got).__name__}, expected a dict"
        for key in expected:
            if key in got:
                said = type_difference(got[key], expected[key], f"{where}[{key!r}]")
                if said:
                    return said
        return None
    if where and type(got) is not type(expected) and not isinstance(expected, Raises):
        return f"{where} is a {type(got).__name__} ({got!r}), expected a {type(expected).__name__}"
    return None


@dataclasses.dataclass
class FunctionCases(Exercise):
    """A Python function, checked by calling it on test vectors: ``cases`` (a failing one is
    shown), then ``hidden`` ones the learner never sees (so an answer that looks the shown
    cases up fails); the values inside a list, tuple or dict must have the expected types."""

    name: str = ""  # the function's name in the notebook
    cases: tuple[Case, ...] = ()
    hidden: tuple[Case, ...] = ()

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

    def all_cases(self) -> tuple[Case, ...]:
        return self.cases + self.hidden

    def behaviour(self, answer):
        results = []
        for case in self.all_cases():
            try:
                results.append(_normalise(answer(*case.args)))
            except Exception as exc:  # an exception is a behaviour too
                results.append(Raises(type(exc)))
        return tuple(results)

    def expected(self):
        return tuple(_normalise(c.expected) for c in self.all_cases())

    def difference(self, got, expected):
        shown = len(self.cases)
        for index, (case, mine, theirs) in enumerate(zip(self.all_cases(), got, expected, strict=False)):
            if isinstance(theirs, Raises) and isinstance(mine, Raises) and issubclass(mine.error, theirs.error):
                continue
            types = None if isinstance(mine, Raises) else type_difference(mine, theirs)
            wrong = mine != theirs or (type(mine) is not type(theirs) and not _numbers(mine, theirs)) or types
            if not wrong:
                continue
            if index >= shown:  # a hidden case: say what kind of mistake, not the vector
                return (
                    f"{self.name} gives the expected result on the examples, but not on another input the "
                    "check tries (it keeps some to itself): does it follow the rule for every input, "
                    "not only the ones shown?" + (f" ({types})" if types else "")
                )
            said = repr(mine) if isinstance(mine, Raises) else f"returned {mine!r}"
            call = case.call(self.name)
            if len(call) > 120:  # (a whole payload as the argument: name the example instead)
                call = f"{self.name} on example {index + 1} of the check"
            if types:
                right = "the right values" if mine == theirs else "a result"
                return f"{call} returned {right}, but {types}."
            return f"{call} {said}; expected {theirs!r}."
        return None


def _numbers(a: Any, b: Any) -> bool:
    return isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool)


_COLLECTIONS: dict[type, str] = {set: "a set", frozenset: "a set", list: "a list", tuple: "a tuple", dict: "a dict"}


@dataclasses.dataclass
class Value(Exercise):
    """A value answer (a count, a rate, a name), with a tolerance for numbers.

    ``answer`` may be a function of the notebook's namespace (its parameters and what its
    cells computed), so the expected value follows the parameters the notebook ran with;
    ``key`` puts both values in a form where what the question leaves free does not count
    (e.g. the order of the tasks within one level)."""

    name: str = ""  # the variable the answer cell assigns
    answer: Any = None
    tolerance: float = 0.0  # absolute, for numbers
    key: Callable[[Any], Any] | None = None

    def check(self, namespace):
        self._namespace = namespace
        return super().check(namespace)

    @property
    def cache_expected(self) -> bool:  # type: ignore[override]
        return not callable(self.answer)

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
        if callable(self.answer):
            return self.answer(getattr(self, "_namespace", {}))
        return self.answer

    def difference(self, got, expected):
        if self.key is not None:
            got, expected = self.key(got), self.key(expected)
        if _numbers(got, expected):
            if abs(got - expected) <= self.tolerance:
                return None
            return f"{self.name} = {got!r} is not it."
        if isinstance(got, str) and isinstance(expected, str):
            return None if got.strip().lower() == expected.strip().lower() else f"{self.name} = {got!r} is not it."
        if got == expected:
            return None
        mine, theirs = _COLLECTIONS.get(type(got)), _COLLECTIONS.get(type(expected))
        if mine and theirs and mine != theirs:
            if theirs == "a set":
                return (
                    f"{self.name} is {mine}; the question asks for a set: write it with braces, "
                    "{...} (or set(...)): a set has no order and no duplicates."
                )
            return (
                f"{self.name} is {mine}, which has no order; the question asks for {theirs}, in order: "
                "write it with square brackets, [...]."
                if mine == "a set"
                else f"{self.name} is {mine}; the question asks for {theirs}."
            )
        return f"{self.name} = {got!r} is not it."


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
