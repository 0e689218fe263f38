"""The parameters of the ETL notebooks (03_etl/01_market_data_etl, 03_etl/02_etl_on_mage), checked
at their top with :func:`fdelib.params.check`, and the checks that relate two of them."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from .. import params
from ..errors import ParameterError
from .alphavantage import _MONTH, INTERVALS, SYMBOL
from .stub import FAULTS


@dataclasses.dataclass(frozen=True)
class Symbol(params.Rule):
    """A ticker as Alpha Vantage spells it: 1 to 12 capitals, digits, dots or hyphens (``BRK.B``)."""

    def normalise(self, value: Any) -> str:
        if not isinstance(value, str) or not SYMBOL.fullmatch(value):
            raise params.Invalid("not a ticker")
        return value

    def allowed(self) -> str:
        return self._or_none("a ticker of 1 to 12 capitals, digits, dots or hyphens (ACME, BRK.B)")


@dataclasses.dataclass(frozen=True)
class Month(params.Rule):
    """A month ``YYYY-MM`` within the course's dates (the NYSE calendar it ships)."""

    def normalise(self, value: Any) -> str:
        if not isinstance(value, str) or not _MONTH.fullmatch(value.strip()):
            raise params.Invalid("not a month")
        value = value.strip()
        if not params.COURSE_DATES[0][:7] <= value <= params.COURSE_DATES[1][:7]:
            raise params.Invalid("out of range")
        return value

    def allowed(self) -> str:
        return f"a month written YYYY-MM from {params.COURSE_DATES[0][:7]} to {params.COURSE_DATES[1][:7]}"


FEED_FAULTS = tuple(f for f in FAULTS if f != "malformed")  # section 7 shows a malformed answer on its own

MARKET_DATA_ETL = {
    "as_of": params.Date(),
    "seed": params.Integer(0),
    "symbols": params.ListOf(Symbol(), min_items=1, max_items=8, why="one API call each"),
    "month": Month(),
    "interval": params.Choice(INTERVALS),
    "symbol": Symbol(),
    "faulty": Symbol(),
    "faults": params.ListOf(params.Choice(FEED_FAULTS)),
}

ETL_ON_MAGE = {
    "as_of": params.Date(),
    "seed": params.Integer(0),
    "symbol": Symbol(),
    "month": Month(),
    "interval": params.Choice(INTERVALS),
}


def check_month(month: str, as_of: str) -> None:
    """The month must be over by ``as_of`` (the notebook's clock): a month still running has no
    complete daily product, and the stand-in's daily series ends at ``as_of``."""
    last = (dt.date.fromisoformat(f"{month}-01") + dt.timedelta(days=31)).replace(day=1) - dt.timedelta(days=1)
    if last >= dt.date.fromisoformat(as_of):
        raise ParameterError(
            f"bad notebook parameter month = {month!r}: not over by as_of = {as_of!r}; allowed: "
            f"a month that ends before as_of (or an as_of after {last})"
        )


def check_symbols(symbol: str, symbols: list[str], faulty: str) -> None:
    """``faulty`` is loaded first with the feed's faults on: it must be a symbol the notebook does not
    load otherwise. (``symbol`` need not be in ``symbols``: the notebook loads it first, then the others,
    and the explorer offers all of them.)"""
    if faulty == symbol or faulty in symbols:
        raise ParameterError(
            f"bad notebook parameter faulty = {faulty!r}: it is also loaded without faults "
            f"(symbol = {symbol!r}, symbols = {symbols!r}); allowed: a ticker loaded nowhere else"
        )
