"""The bank's clock: the database stamps every booking, no caller states a time.

A caller that could state the time of its own booking could backdate a debit past an
account's closing date, or book at ``'infinity'`` and freeze the account for good (every later
booking would be "before" it); and clients' clocks disagree, so a request a millisecond behind
the last booking used to be refused. So the operations take no time at all: each reads the
bank's clock after its account locks are held.

That clock is the wall clock (``clock_timestamp()``) unless a **course clock** is set. Lessons
set it from their ``as_of`` parameter (:func:`bank.populate <fdelib.bank.population.populate>`
does), so a notebook's ledger is identical on every run. Only the bank's owner can set it —
never the application role ``bank_app``.

* :func:`course_time` — the time a lesson's clock reads for ``as_of``;
* :func:`set_course` / :func:`use_wall_clock` — set or clear the course clock (owner only);
* :func:`now` — the time the next booking would get.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from .ddl import owner_engine

OPENING_HOUR = 9  # a lesson's bookings happen when the bank opens on its as_of day (UTC)


def course_time(as_of: str, hour: int = OPENING_HOUR) -> pd.Timestamp:
    """The course clock for ``as_of``: that day at ``hour``:00 UTC."""
    return pd.Timestamp(as_of, tz="UTC") + pd.Timedelta(hours=hour)


def set_course(engine: sa.Engine, when: dt.datetime | pd.Timestamp | str | None) -> dt.datetime:
    """Stamp every booking from now on with ``when`` (None: the wall clock again); return the
    time bookings now get. Done as ``bank_owner``, through fdelib's privileged connection: the
    notebooks' role and ``bank_app`` cannot. Refused by the database: a time outside
    1970..2199 or before the ledger's last booking."""
    value = when.to_pydatetime() if isinstance(when, pd.Timestamp) else when  # text: the server parses it
    with owner_engine(engine).begin() as conn:
        return conn.execute(
            sa.text("SELECT bank.set_course_clock(CAST(:at AS timestamptz))"), {"at": value}
        ).scalar_one()


def use_wall_clock(engine: sa.Engine) -> dt.datetime:
    """Clear the course clock: bookings get the wall clock's time (what a real bank does)."""
    return set_course(engine, None)


def now(engine: sa.Engine) -> dt.datetime:
    """The time a booking made now would get (course clock, or wall clock)."""
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT bank.booking_clock()")).scalar_one()
