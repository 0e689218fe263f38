"""A seeded, made-up universe of legal entities and instruments with valid identifiers.

Names, cities and codes are invented; every LEI, ISIN, CUSIP and FIGI carries correct
check digits (computed with python-stdnum), every BIC has the ISO 9362 shape. The offline
stand-ins of OpenFIGI and GLEIF serve it; ``version=2`` is the same universe a few weeks
later (some names, statuses and tickers changed, a BIC re-pointed to another entity, an
instrument matured) — what a re-download shows.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from functools import lru_cache

import pandas as pd

from .identifiers import with_check

COUNTRIES = [
    ("US", "New York"),
    ("US", "Chicago"),
    ("GB", "London"),
    ("DE", "Frankfurt"),
    ("FR", "Paris"),
    ("NL", "Amsterdam"),
    ("CH", "Zurich"),
    ("JP", "Tokyo"),
]
LOUS = ("5493", "2138", "9695", "3912", "5299")  # prefixes of real LEI issuers
FIGI_CHARS = "0123456789BCDFGHJKLMNPQRSTVWXYZ"
WORDS = [
    "Atlas",
    "Beacon",
    "Cobalt",
    "Delta",
    "Ember",
    "Fjord",
    "Granite",
    "Harbor",
    "Iris",
    "Juniper",
    "Keystone",
    "Lumen",
    "Meridian",
    "Nimbus",
    "Orchid",
    "Pioneer",
    "Quartz",
    "Raven",
    "Summit",
    "Tundra",
    "Umber",
    "Vertex",
    "Willow",
    "Xenon",
    "Yarrow",
    "Zephyr",
]
SUFFIX = {"US": "Inc.", "GB": "plc", "DE": "AG", "FR": "SA", "NL": "N.V.", "CH": "AG", "JP": "K.K."}
EXCHANGES = {
    "US": ("US", "XNYS"),
    "GB": ("LN", "XLON"),
    "DE": ("GY", "XETR"),
    "FR": ("FP", "XPAR"),
    "NL": ("NA", "XAMS"),
    "CH": ("SW", "XSWX"),
    "JP": ("JT", "XTKS"),
}
# the trading currency of a listing (ISO 4217; London's shares are quoted in pence, GBX, which is
# not an ISO 4217 code: the currency of record is GBP)
CURRENCIES = {"US": "USD", "GB": "GBP", "DE": "EUR", "FR": "EUR", "NL": "EUR", "CH": "CHF", "JP": "JPY"}
TYPES = ["Common Stock", "Common Stock", "Common Stock", "ETP", "Preference"]


@dataclass(frozen=True)
class Universe:
    entities: pd.DataFrame
    instruments: pd.DataFrame


def _alnum(rng: random.Random, n: int, alphabet: str = string.ascii_uppercase + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


@lru_cache(maxsize=8)
def build(seed: int = 42, entities: int = 200, instruments: int = 300, version: int = 1) -> Universe:
    rng = random.Random(seed)
    rows, used_names = [], set()
    for _ in range(entities):
        country, city = rng.choice(COUNTRIES)
        name = f"{rng.choice(WORDS)} {rng.choice(WORDS)}"
        while name in used_names:
            name = f"{rng.choice(WORDS)} {rng.choice(WORDS)} {rng.choice(WORDS)}"
        used_names.add(name)
        bank = rng.random() < 0.35
        lei = with_check("LEI", rng.choice(LOUS) + "00" + _alnum(rng, 12))
        bic = (
            (
                name.replace(" ", "")[:4].upper().ljust(4, "X")
                + country
                + _alnum(rng, 2)
                + ("XXX" if rng.random() < 0.5 else "")
            )
            if bank
            else None
        )
        rows.append(
            {
                "lei": lei,
                "legal_name": f"{name} {'Bank' if bank else 'Holdings'} {SUFFIX[country]}",
                "country": country,
                "city": city,
                "status": "ISSUED",
                "registered_on": pd.Timestamp("2012-06-01") + pd.Timedelta(days=rng.randint(0, 4000)),
                "bic": bic,
                "permid": str(4295000000 + rng.randint(0, 9_999_999)),
            }
        )
    frame = pd.DataFrame(rows)
    instruments_rows = []
    for j in range(instruments):
        issuer = frame.iloc[rng.randrange(len(frame))]
        country = issuer["country"] if issuer["country"] in EXCHANGES else "US"
        if country == "US":
            cusip = with_check("CUSIP", _alnum(rng, 6, string.digits) + _alnum(rng, 2))
            isin = with_check("ISIN", "US" + cusip)
        else:
            cusip = None
            isin = with_check("ISIN", country + "000" + _alnum(rng, 6))
        exch, mic = EXCHANGES[country]
        figi = with_check("FIGI", "BBG00" + _alnum(rng, 6, FIGI_CHARS))
        composite = with_check("FIGI", "BBG00" + _alnum(rng, 6, FIGI_CHARS))
        share_class = with_check("FIGI", "BBG001S" + _alnum(rng, 4, FIGI_CHARS))
        ticker = (issuer["legal_name"].split()[0][:3] + issuer["legal_name"].split()[1][:1]).upper() + (
            str(j % 10) if j >= len(frame) else ""
        )
        instruments_rows.append(
            {
                "figi": figi,
                "composite_figi": composite,
                "share_class_figi": share_class,
                "isin": isin,
                "cusip": cusip,
                "ticker": ticker,
                "exch_code": exch,
                "mic": mic,
                "currency": CURRENCIES[country],
                "security_type": rng.choice(TYPES),
                "name": issuer["legal_name"].upper(),
                "issuer_lei": issuer["lei"],
            }
        )
    listing = pd.DataFrame(instruments_rows).drop_duplicates("isin").reset_index(drop=True)
    if version >= 2:  # a few weeks later: renamed, lapsed, re-ticketed
        frame.loc[frame.index % 40 == 3, "legal_name"] = frame["legal_name"].str.replace("Holdings", "Group")
        frame.loc[frame.index % 50 == 7, "status"] = "LAPSED"
        listing.loc[listing.index % 60 == 5, "ticker"] = listing["ticker"] + "X"
        # a BIC re-pointed to another entity (a bank sold its branch), an instrument matured
        giver, taker = frame.index[frame["bic"].notna()][0], frame.index[frame["bic"].isna()][0]
        frame.loc[taker, "bic"], frame.loc[giver, "bic"] = frame.loc[giver, "bic"], None
        listing = listing.iloc[:-1]
    return Universe(frame, listing)
