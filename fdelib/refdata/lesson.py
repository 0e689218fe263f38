"""The parameters of 05_refdata/01_security_master, checked at its top with :func:`fdelib.params.check`."""

from __future__ import annotations

import dataclasses
from typing import Any

from .. import params
from ..errors import ParameterError
from .identifiers import is_valid


@dataclasses.dataclass(frozen=True)
class Identifier(params.Rule):
    """An identifier the security master can start from (LEI, ISIN, FIGI, BIC or PermID), or empty."""

    KINDS = ("LEI", "ISIN", "FIGI", "BIC", "PERMID")

    def normalise(self, value: Any) -> str:
        if not isinstance(value, str):
            raise params.Invalid("not text")
        text = "".join(value.split()).upper()
        if text and not any(is_valid(kind, text) for kind in self.KINDS):
            raise params.Invalid("not a valid LEI, ISIN, FIGI, BIC or PermID (check its length and check digits)")
        return text

    def allowed(self) -> str:
        return "an LEI, ISIN, FIGI, BIC or PermID with valid check digits, or '' (the first instrument's ISIN)"


PARAMETERS = {
    "as_of": params.Date(),
    "later": params.Date(),
    "seed": params.Integer(0),
    "lookup": Identifier(),
}


def check_later(as_of: str, later: str) -> None:
    """The re-download is later than the first: history is kept in date order."""
    if later <= as_of:
        raise ParameterError(
            f"bad notebook parameter later = {later!r}: not after as_of = {as_of!r}; allowed: "
            "a date after as_of (the re-download comes after the first download)"
        )
