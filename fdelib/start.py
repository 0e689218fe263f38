"""Helpers for ``00_start_here``: a live check of the stack and a first round trip.

The round trip is the smallest version of what every project does: make data
(seeded, so every run is identical), load it with COPY, let SQL compute something,
read it back as a typed DataFrame.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy.engine import make_url

from . import db, params
from .config import Settings, get_settings

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS start_here_prices (
    symbol  text          NOT NULL,
    day     date          NOT NULL,
    close   numeric(12,2) NOT NULL CHECK (close > 0),
    PRIMARY KEY (symbol, day)
)
"""


def overview(settings: Settings | None = None) -> pd.DataFrame:
    """Where everything is and what it is, as a two-column table."""
    settings = settings or get_settings()
    engine = db.get_engine(settings)
    info = db.read_frame(
        "SELECT current_setting('server_version') AS version, "
        "current_database() AS database, current_user AS role, "
        "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS super",
        engine=engine,
    ).iloc[0]
    if settings.database_url is None:  # settings.embedded
        where = f"embedded server, data in {settings.display_path(settings.pgdata)}"
    else:  # where, not who: host, port and database (no user, no password, no query)
        url = make_url(settings.database_url)
        host = url.host or url.query.get("host") or "localhost"
        where = f"external server {host}:{url.port or 5432}/{url.database}"
    rows = [
        ("database", where),
        ("PostgreSQL", f"{info['version']}"),
        (
            "database / role",
            f"{info['database']} / {info['role']}" + (" (superuser!)" if info["super"] else " (no superuser)"),
        ),
        (
            "API mode",
            f"{settings.mode}: " + ("real APIs, your keys" if settings.live else "recorded payloads served locally"),
        ),
        (
            "workflow engine",
            settings.conductor_server_url
            or (
                "Conductor OSS server (FDE_ENGINE=conductor-oss)"
                if settings.engine == "conductor-oss"
                else "local Conductor-compatible engine (fdelib.conductor)"
            ),
        ),
    ]
    return pd.DataFrame(rows, columns=["what", "value"]).set_index("what")


def sessions(as_of: str, days: int, exchange: str = "XNYS") -> list:
    """The last ``days`` trading sessions of ``exchange`` up to ``as_of`` (holidays skipped)."""
    import warnings

    import exchange_calendars as xcals

    with warnings.catch_warnings():
        # exchange-calendars still calls a pandas API that pandas 3.1 deprecates; the
        # warning is about their code, and would only clutter notebook outputs.
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        calendar = xcals.get_calendar(exchange)
    last = calendar.date_to_session(pd.Timestamp(as_of), direction="previous")
    return list(calendar.sessions_window(last, -days).date)


#: what 00_start_here's parameters may be (checked at its top by fdelib.params)
PARAMETERS = {
    "seed": params.Integer(0),
    "as_of": params.Date(),
    "days": params.Integer(2, 250, why="a return needs two sessions"),
}


def sample_prices(seed: int, as_of: str, days: int, symbols: tuple[str, ...] = ("ACME", "GLOBX")) -> pd.DataFrame:
    """Seeded random-walk closing prices for the NYSE sessions up to ``as_of``."""
    rng = np.random.default_rng(seed)
    dates = sessions(as_of, days)
    frames = []
    for start, symbol in zip((100.0, 40.0), symbols, strict=False):
        closes = start * np.exp(np.cumsum(rng.normal(0, 0.01, size=days)))
        frames.append(pd.DataFrame({"symbol": symbol, "day": dates, "close": closes.round(2)}))
    return pd.concat(frames, ignore_index=True)


def roundtrip(prices: pd.DataFrame) -> pd.DataFrame:
    """Load ``prices`` with COPY (replacing what is there) and read back daily returns."""
    engine = db.get_engine()
    with engine.begin() as conn:
        conn.exec_driver_sql(SCHEMA_SQL)
        conn.exec_driver_sql("TRUNCATE start_here_prices")
        db.copy_dataframe(prices, "start_here_prices", connection=conn)
    return db.read_frame(
        """
        SELECT symbol, day, close,
               round(100 * (close / lag(close) OVER w - 1), 3) AS return_pct
        FROM start_here_prices
        WINDOW w AS (PARTITION BY symbol ORDER BY day)
        ORDER BY symbol, day
    """,
        engine=engine,
    )
