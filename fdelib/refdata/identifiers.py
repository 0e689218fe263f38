"""Financial identifiers: validate with python-stdnum, explain the check digits step by step.

| kind | standard | shape | check |
|---|---|---|---|
| LEI | ISO 17442 | 18 alphanumerics + 2 digits | ISO 7064 mod 97-10 (as IBAN) |
| ISIN | ISO 6166 | country (2) + NSIN (9) + 1 digit | Luhn over letters turned to numbers |
| CUSIP | ANSI X9.6 | 8 alphanumerics + 1 digit | weighted sum mod 10 |
| SEDOL | LSE | 6 letters (no vowels) or digits + 1 digit | weights 1 3 1 7 3 9, mod 10 |
| FIGI | OMG FIGI | 12: 2 letters (no BS/BM/GG/GB/VG), G, 8, 1 digit | Luhn-like, like CUSIP |
| BIC | ISO 9362 | bank (4) country (2) location (2) [branch (3)] | none: format only |
| PermID | LSEG | a whole number | none |

:func:`validate` returns the normalised identifier or raises :class:`InvalidIdentifier`
saying which rule failed.
"""

from __future__ import annotations

import pandas as pd
from stdnum import bic, cusip, figi, isin, lei
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength, ValidationError
from stdnum.gb import sedol
from stdnum.iso7064 import mod_97_10

from ..errors import FdeError

KINDS = {"LEI": lei, "ISIN": isin, "CUSIP": cusip, "SEDOL": sedol, "FIGI": figi, "BIC": bic}
RULES = {
    "LEI": "20 characters: 18 letters or digits, then 2 check digits (ISO 7064 mod 97-10)",
    "ISIN": "12 characters: a 2-letter country code, 9 letters or digits, 1 Luhn check digit",
    "CUSIP": "9 characters: 8 letters or digits, 1 check digit",
    "SEDOL": "7 characters: 6 consonants or digits, 1 check digit (weights 1, 3, 1, 7, 3, 9)",
    "FIGI": "12 characters: 2 letters (not BS, BM, GG, GB, VG), 'G', 8 consonants or digits, 1 check digit",
    "BIC": "8 or 11 characters: bank code (4 letters), country (2 letters), location (2), branch (3, optional)",
}


class InvalidIdentifier(FdeError):
    def __init__(self, kind: str, value: str, rule: str):
        self.kind, self.value, self.rule = kind, value, rule
        super().__init__(f"{kind} {value!r} is invalid: {rule}")


def validate(kind: str, value: str) -> str:
    """``value`` normalised (upper case, no spaces) if it is a valid ``kind``."""
    kind = kind.upper()
    if kind == "PERMID":  # no check digit: a positive whole number
        text = str(value or "").strip()
        if not text.isdigit() or not 1 <= len(text) <= 15 or text.startswith("0"):
            raise InvalidIdentifier(kind, value, "a PermID is a positive whole number of up to 15 digits")
        return text
    if kind not in KINDS:
        raise FdeError(f"unknown identifier kind {kind!r}; one of {', '.join(KINDS)}")
    try:
        return KINDS[kind].validate(value or "")
    except InvalidLength:
        rule = f"wrong length ({len(KINDS[kind].compact(value or ''))}); expected {RULES[kind]}"
    except InvalidChecksum:
        rule = f"check digit does not match (expected {expected_check(kind, value)})"
    except InvalidComponent:
        rule = f"a component is not allowed ({RULES[kind]})"
    except InvalidFormat:
        rule = f"wrong characters or shape; expected {RULES[kind]}"
    except ValidationError as exc:
        rule = str(exc)
    raise InvalidIdentifier(kind, value, rule)


def bic11(value: str) -> str:
    """A BIC in its 11-character form, as GLEIF lists BICs: an 8-character BIC is the institution's
    head office, branch code ``XXX`` (``PUMADE77`` → ``PUMADE77XXX``); anything else unchanged
    (upper case, without spaces)."""
    text = "".join(str(value or "").split()).upper()
    return text + "XXX" if len(text) == 8 else text


def is_valid(kind: str, value: str) -> bool:
    try:
        validate(kind, value)
        return True
    except InvalidIdentifier:
        return False


def verdicts(attempts: list[tuple[str, str]]) -> pd.DataFrame:
    """For each ``(kind, value)``: the normalised identifier, or the rule it breaks."""
    rows = []
    for kind, value in attempts:
        try:
            rows.append((kind, value, "valid: " + validate(kind, value)))
        except InvalidIdentifier as error:
            rows.append((kind, value, error.rule))
    return pd.DataFrame(rows, columns=["kind", "value", "verdict"])


def expected_check(kind: str, value: str) -> str:
    """The check digit(s) the body of ``value`` calls for."""
    body = KINDS[kind].compact(value)
    if kind == "LEI":
        return mod_97_10.calc_check_digits(body[:18])
    if kind in ("ISIN", "CUSIP", "SEDOL", "FIGI"):
        return KINDS[kind].calc_check_digit(body[:-1])
    return ""


def with_check(kind: str, body: str) -> str:
    """``body`` completed with its check digit(s): how generated identifiers are made valid."""
    if kind == "LEI":
        return body + mod_97_10.calc_check_digits(body)
    if kind in ("ISIN", "CUSIP", "SEDOL", "FIGI"):
        return body + KINDS[kind].calc_check_digit(body)
    return body


def lei_steps(value: str) -> list[tuple[str, str]]:
    """The LEI check computed by hand: letters to numbers, then mod 97."""
    value = lei.compact(value)
    digits = "".join(str(int(c, 36)) for c in value)
    body_digits = "".join(str(int(c, 36)) for c in value[:18])
    remainder = int(digits) % 97
    return [
        ("the LEI", value),
        ("letters to numbers (A=10 ... Z=35)", digits),
        ("that number mod 97", f"{remainder} (valid when it is 1)"),
        (
            "check digits for the first 18 characters",
            f"98 - ({body_digits}00 mod 97) = {98 - int(body_digits + '00') % 97:02d}",
        ),
    ]


def isin_steps(value: str) -> list[tuple[str, str]]:
    """The ISIN check computed by hand: letters to numbers, then Luhn."""
    value = isin.compact(value)
    digits = "".join(str(int(c, 36)) for c in value[:-1])
    doubled = [int(d) * 2 if i % 2 == 0 else int(d) for i, d in enumerate(reversed(digits))]
    summed = sum(d // 10 + d % 10 for d in doubled)
    return [
        ("the ISIN", value),
        ("country + NSIN, letters to numbers", digits),
        ("from the right, double every other digit", " ".join(str(d) for d in reversed(doubled))),
        ("sum of all digits", str(summed)),
        ("check digit: (10 - sum mod 10) mod 10", f"{(10 - summed % 10) % 10} (the ISIN ends in {value[-1]})"),
    ]
