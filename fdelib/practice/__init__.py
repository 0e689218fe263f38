"""Practice with feedback: exercises that check themselves.

In a notebook::

    %load_ext fdelib.practice          # %%sql cells, as the least-privilege role `learner`
    from fdelib.practice import check, hint, solution

    %%sql --save latest_close          # the answer cell (or Python)
    SELECT ...

    check("latest_close")              # the check cell: passes, or says what to look at
    hint("latest_close")               # where to start; hint("latest_close", 2) goes further
    solution("latest_close")           # the lesson's answer, when you want it

The check runs the answer — SQL on a known fixture, a function on test vectors, a workflow
on the engine — and compares what it does with what the lesson's answer does. A blank
answer gets a hint to start; a catalogued wrong answer gets its own hint.

Modules (the floor plan is in :mod:`.exercises`): :mod:`.outcome` (what a check found),
:mod:`.base` (the base check), :mod:`.sqlkinds`, :mod:`.pykinds` and :mod:`.workflowcheck`
(the exercise kinds), :mod:`.registry` (the catalogue), :mod:`.authoring` (a notebook's
exercises checked against it), :mod:`.hints` (hints and solutions on demand),
:mod:`.sqlcheck` (the learner's SQL in a rolled-back transaction), :mod:`.learner` (the
role), :mod:`.sqlcell` (jupysql), :mod:`.notebook` (finding exercises in notebooks),
:mod:`.copies` (``fde practice``), :mod:`.progress` (``fde progress``), :mod:`.lab` (what
``fde lab`` opens).
Exercises are declared in ``fdelib/practice/catalog/`` (see CONTRIBUTING.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Exercise, ExerciseError, Wrong
from .outcome import Outcome
from .pykinds import Case, Raises
from .registry import Catalog
from .sqlcheck import Probe

_LAST: dict[str, Outcome] = {}


def load_ipython_extension(shell) -> None:
    """``%load_ext fdelib.practice``: jupysql connected as the learner, telemetry off."""
    from . import sqlcell

    sqlcell.load(shell)


def _user_namespace() -> Mapping[str, Any]:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with the course
        get_ipython = None
    shell = get_ipython() if get_ipython else None
    if shell is not None:
        return shell.user_ns
    import inspect

    frame = inspect.currentframe()
    return frame.f_back.f_back.f_globals if frame and frame.f_back and frame.f_back.f_back else {}


def check(exercise_id: str, namespace: Mapping[str, Any] | None = None) -> Outcome:
    """Check an exercise's answer; the outcome shows as the cell's result.

    In a practice copy the outcome is also recorded for ``fde progress``.
    """
    from . import progress, registry

    exercise = registry.get(exercise_id)
    outcome = exercise.check(namespace if namespace is not None else _user_namespace())
    _LAST[exercise_id] = outcome
    progress.record(outcome)
    return outcome


def last_outcome(exercise_id: str) -> dict[str, str] | None:
    """The last outcome of ``check(exercise_id)`` in this kernel, as a dict (for tests)."""
    outcome = _LAST.get(exercise_id)
    return outcome.to_dict() if outcome else None


def hint(exercise_id: str, level: int = 1):
    """A hint for an exercise, before or after any check: ``hint("ID")`` says where to start,
    ``hint("ID", 2)`` … go further, the last one lists the common mistakes.

    In a practice copy the hint asked is recorded for ``fde progress``.
    """
    from . import hints, progress

    shown = hints.hint(exercise_id, level)
    progress.record_hint(exercise_id, shown.level)
    return shown


def solution(exercise_id: str):
    """Show an exercise's solution (the lesson's answer cell) — when you want to see it.

    In a practice copy that it was shown is recorded for ``fde progress``.
    """
    from IPython.display import Markdown

    from . import hints, progress

    language, text = hints.solution_cell(exercise_id)
    progress.record_solution(exercise_id)
    return Markdown(f"Solution of `{exercise_id}`:\n\n```{language}\n{text.strip()}\n```")


def __getattr__(name: str):
    if name == "WorkflowRun":  # imports conductor-python: only when a catalogue needs it
        from .workflowcheck import WorkflowRun

        return WorkflowRun
    raise AttributeError(name)


__all__ = [
    "Case",
    "Catalog",
    "Exercise",
    "ExerciseError",
    "Outcome",
    "Probe",
    "Raises",
    "WorkflowRun",
    "Wrong",
    "check",
    "hint",
    "last_outcome",
    "load_ipython_extension",
    "solution",
]
