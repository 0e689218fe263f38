"""The base check: what every exercise kind has in common, and how an answer is judged.

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

:class:`Exercise` is the base; the kinds are in :mod:`.sqlkinds`, :mod:`.pykinds` and
:mod:`.workflowcheck`, the registry and the :class:`~.registry.Catalog` in :mod:`.registry`.
This module imports only :mod:`.outcome` and :mod:`.notebook` (for the lesson's solution).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..errors import FdeError
from . import notebook
from .outcome import Outcome


class ExerciseError(FdeError):
    """An exercise is unknown or defined wrongly (an authoring problem, not a wrong answer)."""


MISSING = object()  # the answer is not there at all (cell not run, variable not defined)


@dataclasses.dataclass(frozen=True)
class Wrong:
    """A plausible wrong answer: the cell text a learner would type, and its own hint."""

    answer: str
    hint: str


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
    # levelled hints the catalogue declares (``hint_levels=[...]``), shown by ``hint(ID, n)``
    # before any check; :mod:`.hints` puts the blank's hint first and the mistakes last
    hint_levels: tuple[str, ...] = ()

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

    def solution(self) -> str:
        """The lesson's answer cell for this exercise (the committed notebook)."""
        return notebook.solution(self)


def answer_of(found: Any) -> Any:
    """What an answer variable holds, or MISSING while it is still the blank's ``...`` (or None)."""
    return MISSING if found is Ellipsis or found is None else found


def run_cell(text: str, namespace: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Run Python cell text in a fresh namespace (a copy of ``namespace``'s names)."""
    scope: dict[str, Any] = dict(namespace or {})
    scope.setdefault("__builtins__", __builtins__)
    exec(compile(text, "<catalogued answer>", "exec"), scope)
    return scope
