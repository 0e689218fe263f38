"""Check a notebook's parameters at its top: one call, one clear message per bad value.

Learners change parameters (``fde run 01_workflows/05_sagas -p fail_at=settle``, or by editing
the ``parameters`` cell). A typo must not run the happy path silently, and a value out of range
must not crash ten cells later with an unrelated traceback. Each lesson module declares its
notebook's parameters as a dict of rules; the notebook checks them right after the
``parameters`` cell::

    from fdelib import params
    from fdelib.workflows import sagas
    params.check(globals(), sagas.PARAMETERS)

:func:`check` reads each declared name from the notebook's namespace, checks it against its
rule and writes back the normalised value (``"None"`` from the command line becomes ``None``,
``7.0`` an integer 7). Every problem is collected, then one :class:`~fdelib.errors.ParameterError`
names each bad parameter, the value it got and what is allowed::

    ParameterError: bad notebook parameter fail_at = 'book_trades': not allowed (did you mean
    'book_trade'?); allowed: one of reserve_cash, reserve_securities, book_trade, settle or None

Rules: :class:`Integer`, :class:`Number`, :class:`Date`, :class:`Choice`, :class:`ListOf`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import math
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

from .errors import ParameterError

#: The dates the course's notebooks accept as their clock: within the NYSE calendar that
#: exchange-calendars ships (it covers twenty years back and one year ahead of today).
COURSE_DATES = ("2013-01-01", "2026-12-31")

#: what a learner may type for "nothing" on the command line (YAML reads ``None`` as a string)
NONE_WORDS = frozenset({"none", "null", "~"})


class Invalid(ValueError):
    """A value broke its rule (the message says what is allowed); :func:`check` collects them."""


@dataclasses.dataclass(frozen=True)
class Rule:
    """Base of the rules: ``rule(value)`` returns the normalised value or raises :class:`Invalid`.

    ``optional=True`` also allows ``None`` (and the words ``None``/``null``); ``why`` is added to
    the message (say what the limit protects)."""

    optional: bool = dataclasses.field(default=False, kw_only=True)
    why: str = dataclasses.field(default="", kw_only=True)

    def __call__(self, value: Any) -> Any:
        if _is_none(value):
            if self.optional:
                return None
            raise Invalid("missing (None)")
        return self.normalise(value)

    def normalise(self, value: Any) -> Any:
        raise NotImplementedError

    def allowed(self) -> str:
        """What the rule allows, in words (used in every message)."""
        raise NotImplementedError

    def _or_none(self, text: str) -> str:
        return f"{text}, or None" if self.optional else text


@dataclasses.dataclass(frozen=True)
class Integer(Rule):
    """A whole number from ``min`` to ``max`` (inclusive; None = no bound)."""

    min: int | None = None
    max: int | None = None

    def normalise(self, value: Any) -> int:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (isinstance(value, float) and not value.is_integer())
        ):
            raise Invalid("not a whole number")
        value = int(value)
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise Invalid("out of range")
        return value

    def allowed(self) -> str:
        return self._or_none(f"a whole number {_bounds(self.min, self.max)}".rstrip())


@dataclasses.dataclass(frozen=True)
class Number(Rule):
    """A number from ``min`` to ``max`` (inclusive; None = no bound)."""

    min: float | None = None
    max: float | None = None

    def normalise(self, value: Any) -> float | int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise Invalid("not a number")
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise Invalid("out of range")
        return value

    def allowed(self) -> str:
        return self._or_none(f"a number {_bounds(self.min, self.max)}".rstrip())


@dataclasses.dataclass(frozen=True)
class Date(Rule):
    """An ISO date string ``YYYY-MM-DD`` from ``min`` to ``max`` (inclusive, ISO strings too).

    A ``datetime.date`` is accepted and turned into its ISO string (papermill passes a YAML date
    as text already; a date typed into the cell as an object works too)."""

    min: str | None = COURSE_DATES[0]
    max: str | None = COURSE_DATES[1]

    def normalise(self, value: Any) -> str:
        if isinstance(value, dt.datetime):
            value = value.date()
        if isinstance(value, dt.date):
            value = value.isoformat()
        if not isinstance(value, str):
            raise Invalid("not a date")
        try:
            day = dt.date.fromisoformat(value.strip())
        except ValueError:
            raise Invalid("not a date") from None
        if len(value.strip()) != 10:
            raise Invalid("not a date")
        if (self.min and day < dt.date.fromisoformat(self.min)) or (self.max and day > dt.date.fromisoformat(self.max)):
            raise Invalid("out of range")
        return day.isoformat()

    def allowed(self) -> str:
        return self._or_none(f"a date written YYYY-MM-DD {_bounds(self.min, self.max)}".rstrip())


@dataclasses.dataclass(frozen=True)
class Choice(Rule):
    """One of ``values`` (compared exactly; a close miss is suggested)."""

    values: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "values", tuple(self.values))

    def normalise(self, value: Any) -> Any:
        if isinstance(value, Sequence) and not isinstance(value, str):
            raise Invalid("a list, not one value")
        if value in self.values:
            return value
        close = difflib.get_close_matches(str(value), [str(v) for v in self.values], n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise Invalid(f"not allowed{hint}")

    def allowed(self) -> str:
        names = [str(v) for v in self.values] + (["None"] if self.optional else [])
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        return f"one of {listed}"


@dataclasses.dataclass(frozen=True)
class ListOf(Rule):
    """A list of ``min_items`` to ``max_items`` items, each checked by ``item``; with
    ``unique=True`` no item twice."""

    item: Rule = dataclasses.field(default_factory=Rule)
    min_items: int = 0
    max_items: int | None = None
    unique: bool = True

    def normalise(self, value: Any) -> list:
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise Invalid("not a list")
        items = []
        for position, element in enumerate(value):
            try:
                items.append(self.item(element))
            except Invalid as error:
                raise Invalid(f"item {position} ({element!r}) is {error}") from None
        if len(items) < self.min_items or (self.max_items is not None and len(items) > self.max_items):
            raise Invalid(f"{len(items)} items")
        if self.unique and len(set(map(repr, items))) != len(items):
            raise Invalid("an item is repeated")
        return items

    def allowed(self) -> str:
        if self.max_items is None:
            count = {0: "any number of", 1: "one or more"}.get(self.min_items, f"at least {self.min_items}")
        elif self.min_items == self.max_items:
            count = str(self.min_items)
        else:
            count = f"{self.min_items} to {self.max_items}"
        different = "different " if self.unique else ""
        return self._or_none(f"a list of {count} {different}items, each {self.item.allowed()}")


def check(namespace: MutableMapping[str, Any], rules: Mapping[str, Rule]) -> None:
    """Check every parameter ``rules`` declares in ``namespace`` (a notebook's ``globals()``);
    write back the normalised values. Raises one :class:`ParameterError` listing every problem,
    each naming the parameter, its value and what is allowed."""
    problems = []
    for name, rule in rules.items():
        if name not in namespace:
            problems.append(f"{name} is not defined: declare it in the parameters cell; allowed: {rule.allowed()}")
            continue
        try:
            namespace[name] = rule(namespace[name])
        except Invalid as error:
            why = f" ({rule.why})" if rule.why else ""
            problems.append(f"{name} = {namespace[name]!r}: {error}; allowed: {rule.allowed()}{why}")
    if len(problems) == 1:
        raise ParameterError(f"bad notebook parameter {problems[0]}")
    if problems:
        raise ParameterError("bad notebook parameters:\n  " + "\n  ".join(problems))


def _is_none(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in NONE_WORDS)


def _bounds(low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return f"from {low} to {high}"
    if low is not None:
        return f"of at least {low}" if not isinstance(low, str) else f"from {low}"
    if high is not None:
        return f"of at most {high}" if not isinstance(high, str) else f"up to {high}"
    return ""
