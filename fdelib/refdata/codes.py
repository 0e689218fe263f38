"""The security master's code lists: countries (ISO 3166-1), currencies (ISO 4217), markets (ISO 10383).

Every instrument is listed on a **market** — a trading venue named by its MIC (ISO 10383) — and
trades in a **currency** (ISO 4217); every market is in a **country** (ISO 3166-1). These lists
are reference data of their own, kept in ``refdata.countries``, ``refdata.currencies`` and
``refdata.markets``, and the database links to them with foreign keys: an instrument on an
unknown MIC, in an unknown currency, or a market in an unknown country is refused.

* Countries and currencies come from **pycountry** (the iso-codes lists Debian maintains), not
  typed by hand: 249 countries, 178 currencies in pycountry 26.
* Markets come from the ISO 10383 list the registration authority publishes freely as CSV
  (www.iso20022.org/market-identifier-codes). The course ships a subset of its publication of
  2023-08-28 in the authority's own layout (:data:`MIC_FILE`, rows copied unchanged: 67 of its
  2,603 — the world's main exchanges, the segments the universe lists on, two expired MICs);
  :func:`load` reads that file or a full one, whatever its publication. A MIC is **operating**
  (``OPRT``: the venue's operator) or a **segment** (``SGMT``) of one: ``XTKS`` (Tokyo Stock
  Exchange) is a segment of ``XJPX`` (Japan Exchange Group), so ``operating_mic`` points back into the same table.

:func:`load` fills all three (idempotent: an upsert, nothing is ever deleted — an instrument may
still point at a MIC a later publication expires; its ``status`` says so).
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from .. import db
from ..errors import FdeError

MIC_FILE = Path(__file__).with_name("ISO10383_MIC-2023-08-28-subset.csv")
MIC_PUBLISHED = "2023-08-28"  # the publication the subset was cut from (its latest update date)
MIC_SOURCE = "ISO 10383 (iso20022.org)"
MIC_COLUMNS = {
    "MIC": "mic",
    "OPERATING MIC": "operating_mic",
    "OPRT/SGMT": "kind",
    "MARKET NAME-INSTITUTION DESCRIPTION": "name",
    "MARKET CATEGORY CODE": "category",
    "ACRONYM": "acronym",
    "ISO COUNTRY CODE (ISO 3166)": "country",
    "CITY": "city",
    "STATUS": "status",
    "CREATION DATE": "created_on",
    "LAST UPDATE DATE": "updated_on",
    "EXPIRY DATE": "expires_on",
}


def countries() -> pd.DataFrame:
    """ISO 3166-1 countries from pycountry: alpha-2 (the code GLEIF and ISINs use), alpha-3,
    numeric, name."""
    import pycountry

    return pd.DataFrame(
        [
            {"alpha_2": c.alpha_2, "alpha_3": c.alpha_3, "numeric": c.numeric, "name": c.name}
            for c in pycountry.countries
        ]
    ).sort_values("alpha_2", ignore_index=True)


def currencies() -> pd.DataFrame:
    """ISO 4217 currencies from pycountry: code, numeric, name."""
    import pycountry

    return pd.DataFrame(
        [{"code": c.alpha_3, "numeric": c.numeric, "name": c.name} for c in pycountry.currencies]
    ).sort_values("code", ignore_index=True)


def read_mic_file(path: Path | str = MIC_FILE) -> pd.DataFrame:
    """An ISO 10383 CSV (the registration authority's layout, full or cut) as the columns of
    ``refdata.markets``. A file without the authority's column names is refused, naming them."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except UnicodeDecodeError:  # older publications are Windows-1252
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="cp1252")
    missing = [c for c in MIC_COLUMNS if c not in frame.columns]
    if missing:
        raise FdeError(f"{path.name} is not an ISO 10383 MIC file: it lacks the column(s) {', '.join(missing)}")
    frame = frame[list(MIC_COLUMNS)].rename(columns=MIC_COLUMNS)
    for column in ("created_on", "updated_on", "expires_on"):
        frame[column] = pd.to_datetime(frame[column], format="%Y%m%d", errors="coerce").dt.date
    return frame.replace({"": None})


def load(engine: sa.Engine | None = None, *, mic_file: Path | str = MIC_FILE) -> dict[str, int]:
    """Fill (or update) the three code lists, in one transaction: countries and currencies from
    pycountry, markets from ``mic_file``. Returns the row count of each."""
    engine = engine or db.get_engine()
    version = importlib.metadata.version("pycountry")
    markets = read_mic_file(mic_file)
    published = MIC_PUBLISHED if Path(mic_file) == MIC_FILE else _latest(markets)
    with engine.begin() as conn:
        _upsert(conn, "countries", "alpha_2", countries().assign(source=f"pycountry {version} (ISO 3166-1)"))
        _upsert(conn, "currencies", "code", currencies().assign(source=f"pycountry {version} (ISO 4217)"))
        try:
            _upsert(conn, "markets", "mic", markets.assign(source=f"{MIC_SOURCE}, publication of {published}"))
        except sa.exc.IntegrityError as error:
            raise refusal(error) from None
    return {
        table: db.read_scalar(f"SELECT count(*) FROM refdata.{table}", engine=engine)
        for table in ("countries", "currencies", "markets")
    }


def listings(engine: sa.Engine | None = None) -> pd.DataFrame:
    """Where the current instruments trade: per MIC, its operating MIC, country and the
    currencies quoted there — instrument → market → country, instrument → currency, by the
    foreign keys."""
    return db.read_frame(
        """
        SELECT i.mic, m.kind, m.operating_mic, o.name AS operator, c.name AS country, i.currency,
               cur.name AS currency_name, count(*) AS instruments
        FROM refdata.instruments i
        JOIN refdata.markets m ON m.mic = i.mic
        JOIN refdata.markets o ON o.mic = m.operating_mic
        JOIN refdata.countries c ON c.alpha_2 = m.country
        JOIN refdata.currencies cur ON cur.code = i.currency
        WHERE i.valid_to IS NULL
        GROUP BY i.mic, m.kind, m.operating_mic, o.name, c.name, i.currency, cur.name
        ORDER BY i.mic, i.currency""",
        engine=engine,
    )


def summary(engine: sa.Engine | None = None) -> pd.DataFrame:
    """Each code list: how many codes, and where they come from."""
    return db.read_frame(
        """
        SELECT 'countries' AS list, count(*) AS codes, min(source) AS source FROM refdata.countries
        UNION ALL SELECT 'currencies', count(*), min(source) FROM refdata.currencies
        UNION ALL SELECT 'markets', count(*), min(source) FROM refdata.markets""",
        engine=engine,
    ).set_index("list")


def _latest(markets: pd.DataFrame) -> str:
    dates = [d for d in pd.concat([markets["created_on"], markets["updated_on"]]) if isinstance(d, dt.date)]
    return max(dates).isoformat() if dates else "unknown date"


def _upsert(conn: sa.Connection, table: str, key: str, frame: pd.DataFrame) -> None:
    """INSERT … ON CONFLICT DO UPDATE, only where something changed (one statement: a market's
    operating MIC may be a row of the same load)."""
    columns = list(frame.columns)
    changed = " OR ".join(f"t.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in columns if c not in (key, "source"))
    rows = [
        {k: (None if not isinstance(v, str) and pd.isna(v) else v) for k, v in r.items()}
        for r in frame.to_dict("records")
    ]
    values = ", ".join("(" + ", ".join(f":{c}_{i}" for c in columns) + ")" for i in range(len(rows)))
    params = {f"{c}_{i}": row[c] for i, row in enumerate(rows) for c in columns}
    conn.execute(
        sa.text(f"""
        INSERT INTO refdata.{table} AS t ({", ".join(columns)}) VALUES {values}
        ON CONFLICT ({key}) DO UPDATE SET {", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != key)}
        WHERE {changed}"""),
        params,
    )


# --- refusals: a foreign key or check names the code it does not know -----------------------------

WHAT = {
    "markets": "MIC (ISO 10383)",
    "countries": "country code (ISO 3166-1 alpha-2)",
    "currencies": "currency code (ISO 4217)",
}


def refusal(error: sa.exc.IntegrityError) -> FdeError:
    """A clear message for a row the code lists refused: which code, in which column, which list
    it is not in, and what to do. (Other integrity errors keep the database's words.)"""
    original = getattr(error, "orig", None)
    diag = getattr(original, "diag", None)
    detail = (getattr(diag, "message_detail", None) or "").strip()
    if getattr(original, "pgcode", None) == "23503" and detail.startswith("Key ("):
        # Key (mic)=(XNYZ) is not present in table "markets".
        column, _, rest = detail[5:].partition(")=(")
        value, _, rest = rest.partition(")")
        table = rest.split('"')[1] if '"' in rest else "?"
        where = getattr(diag, "table_name", None) or "the table"
        return FdeError(
            f"refdata.{where}.{column} = {value!r} is not a known {WHAT.get(table, table)}: "
            f"refdata.{table} has no such code; nothing was loaded"
        )
    message = str(original or error).strip().splitlines()[0]
    return FdeError(f"refused by the database: {message}; nothing was loaded")
