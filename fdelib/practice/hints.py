"""Hints and solutions on demand: ``hint("ID")``, ``hint("ID", 2)`` … then ``solution("ID")``.

A learner can ask before any check. The levels of an exercise, from a nudge to the answer:

1. **where to start** — the blank's hint (what the check says to an unanswered cell);
2. … the hints the catalogue declares for it (``hint_levels=[...]``), from a general
   direction to a specific one;
3. **mistakes to avoid** — the catalogued wrong answers' hints (what the check says when it
   recognises each one); a multiple choice has none here, they would give its answer away;

and after the last level, ``solution("ID")`` shows the lesson's answer cell. What was asked
and shown is recorded for ``fde progress`` (in a practice copy), as checks are.
"""

from __future__ import annotations

import dataclasses
import html

from . import registry
from .base import Exercise, ExerciseError


@dataclasses.dataclass(frozen=True)
class Level:
    title: str
    text: str
    points: tuple[str, ...] = ()  # a list under the text (the mistakes)


def levels(exercise: Exercise) -> list[Level]:
    """An exercise's hints, in the order they are given."""
    found = [Level("where to start", exercise.blank_hint)]
    found += [Level("a step further", text) for text in exercise.hint_levels]
    if exercise.kind != "choice":
        points = tuple(dict.fromkeys(wrong.hint for wrong in exercise.wrong))
        found.append(Level("mistakes to avoid", "What the check says when it recognises a common mistake:", points))
    return found


@dataclasses.dataclass(frozen=True)
class Hint:
    """One hint, shown as a cell's result (deterministic text, like an :class:`.Outcome`)."""

    exercise: str
    level: int
    of: int
    title: str
    text: str
    points: tuple[str, ...] = ()

    @property
    def next(self) -> str:
        if self.level < self.of:
            return f'Next: hint("{self.exercise}", {self.level + 1}).'
        return f'That was the last hint; solution("{self.exercise}") shows the lesson\'s answer.'

    def __repr__(self) -> str:
        lines = [f"💡 {self.exercise}: hint {self.level} of {self.of} ({self.title}). {self.text}"]
        lines += [f"  • {point}" for point in self.points]
        lines.append(self.next)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc = html.escape
        points = "".join(f"<li>{esc(p)}</li>" for p in self.points)
        return (
            '<div class="fde-hint" style="border-left: 4px solid #8a6d00; padding: .3rem .7rem; '
            f'margin: .2rem 0"><strong style="color: #8a6d00">💡 {esc(self.exercise)}: hint '
            f"{self.level} of {self.of} ({esc(self.title)}).</strong> {esc(self.text)}"
            f"{f'<ul>{points}</ul>' if points else ''}<div><em>{esc(self.next)}</em></div></div>"
        )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def hint(exercise_id: str, level: int = 1) -> Hint:
    """Hint ``level`` (1 = where to start) of an exercise."""
    exercise = registry.get(exercise_id)
    found = levels(exercise)
    if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= len(found):
        raise ExerciseError(
            f'exercise {exercise_id} has {len(found)} hint(s): ask for hint("{exercise_id}", 1) to '
            f'hint("{exercise_id}", {len(found)}); solution("{exercise_id}") shows the answer'
        )
    chosen = found[level - 1]
    return Hint(exercise_id, level, len(found), chosen.title, chosen.text, chosen.points)


def solution_cell(exercise_id: str) -> tuple[str, str]:
    """(language, text) of the exercise's solution: the lesson's answer cell."""
    text = registry.solution(exercise_id)
    return ("sql" if text.lstrip().startswith("%%sql") else "python"), text
