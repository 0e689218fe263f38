"""Extract and load: fetch a month from the API, check it whole, append it to the raw table.

* :func:`fetch` — the month's intraday answer, validated (:mod:`.alphavantage`), or with
  ``datatype="csv"`` read and checked column by column by Arrow (:mod:`.csvbars`);
  :func:`fetch_ahead` — many months, the next downloading while the current one loads;
* :func:`load_raw` — the bars appended to ``etl.raw_intraday`` with COPY, in the caller's
  transaction, with the run's id and the load's time (the ingestion time), and recorded on the
  run: how many rows and which bar times they cover (deduplication finds the loads by it).

The raw table is append-only: corrections and repeats become new rows, never overwrites.
"""

from __future__ import annotations

import io
import re
from typing import Any

import psycopg2
import sqlalchemy as sa

from .. import db
from . import alphavantage, csvbars
from .alphavantage import MalformedPayload
from .sessions import months_between, utc_offset

RAW_COLUMNS = "symbol, interval, bar_time, open, high, low, close, volume, run_id"
COPY_RAW = f"COPY etl.raw_intraday ({RAW_COLUMNS}) FROM STDIN WITH (FORMAT csv)"


def fetch(
    client: alphavantage.Client,
    symbol: str,
    month: str,
    interval: str = "5min",
    *,
    extended_hours: bool = False,
    datatype: str = "json",
    adjusted: bool = False,
) -> dict[str, Any] | csvbars.CsvBars:
    """The month's intraday payload, validated (raises on an error or malformed answer);
    ``datatype="csv"``: the CSV answer, read and checked column by column (a :class:`~.csvbars.CsvBars`).
    ``adjusted``: split/dividend-adjusted prices (default: as traded, like the daily series)."""
    options = {"extended_hours": extended_hours, "adjusted": adjusted}
    if datatype != "csv":
        payload = client.intraday(symbol, month, interval, datatype=datatype, **options)
    else:
        payload = client.intraday(symbol, month, interval, datatype="csv", decode=False, **options)
    return decode(payload) if isinstance(payload, alphavantage.Answer) else payload


def decode(answer: alphavantage.Answer) -> dict[str, Any] | csvbars.CsvBars:
    """A fetched answer parsed and checked: a CSV one column by column (:mod:`.csvbars`), a JSON one
    into its payload."""
    return csvbars.parse(answer) if answer.datatype == "csv" else answer.decode()


class RawCsv:
    """The payload's bars as COPY CSV text, rendered straight from the JSON strings (no DataFrame),
    a chunk at a time: ``COPY`` reads it like a file, so PostgreSQL parses one chunk while Python
    renders the next.

    Each chunk must have exactly one line and eight commas per bar: a value holding a comma or a
    line break (which would shift columns or smuggle in a row) is refused, naming the bar."""

    def __init__(self, payload: dict[str, Any], run_id: int, chunk_bars: int = 500):
        meta = payload["Meta Data"]
        self.symbol, self.interval = str(meta["2. Symbol"]).upper(), meta["4. Interval"]
        self.series = payload[f"Time Series ({self.interval})"]
        self.run_id = int(run_id)
        self.chunk_bars = chunk_bars
        try:
            # New York's UTC offset per day (DST changes it): PostgreSQL parses "-05:00" much
            # faster than a zone name on every row
            self.offsets = {day: utc_offset(day) for day in {stamp[:10] for stamp in self.series}}
        except ValueError as exc:
            raise MalformedPayload(f"{self.symbol} {self.interval}: a bar key is not a date ({exc})") from exc
        # every bar as sent, a time sent twice twice (alphavantage.Series keeps the earlier copies)
        self.bars = list(self.series.items()) + alphavantage.repeats(self.series)
        self.stamps = [stamp for stamp, _ in self.bars]  # line n of the COPY is bar self.stamps[n - 1]
        self._next = 0
        self.rows = 0
        self.error: Exception | None = None  # raised in read(): COPY only reports that read() failed

    def read(self, size: int = -1) -> str:
        try:
            return self._render()
        except Exception as exc:
            self.error = exc
            raise

    def _render(self) -> str:
        bars = self.bars[self._next : self._next + self.chunk_bars]  # strings: no work for the GC
        if not bars:
            return ""
        self._next += len(bars)
        offsets = self.offsets
        prefix, suffix = f"{self.symbol},{self.interval},", f",{self.run_id}\n"
        try:
            text = "".join(
                [
                    f"{prefix}{s}{offsets[s[:10]]},{b['1. open']},{b['2. high']},{b['3. low']},"
                    f"{b['4. close']},{b['5. volume']}{suffix}"
                    for s, b in bars
                ]
            )
        except (KeyError, TypeError, AttributeError) as exc:  # fetch validates; a hand-made payload may not
            bad = next((s for s, b in bars if not isinstance(b, dict) or not set(alphavantage.FIELDS) <= b.keys()), "?")
            raise MalformedPayload(f"{self.symbol} {self.interval}: bar {bad} lacks a field ({exc})") from None
        if text.count("\n") != len(bars) or text.count(",") != 8 * len(bars):
            bad = next((s for s, b in bars if any(c in s + "".join(map(str, b.values())) for c in ",\r\n")), "?")
            raise MalformedPayload(
                f"{self.symbol} {self.interval}: bar {bad} has a comma or a line break in its time or values"
            )
        self.rows += len(bars)
        return text

    def bounds(self) -> tuple[str, str] | None:
        """The first and last bar time (ISO text with the UTC offset), None without bars."""
        if not self.stamps:
            return None
        first, last = min(self.stamps), max(self.stamps)
        return first + self.offsets[first[:10]], last + self.offsets[last[:10]]


def render_raw(payload: dict[str, Any], run_id: int) -> tuple[str, int]:
    """The payload's bars as one COPY CSV text, and their number (what :func:`load_raw` streams)."""
    rendered = RawCsv(payload, run_id)
    return "".join(iter(lambda: rendered.read(), "")), rendered.rows


_COPY_LINE = re.compile(r"line (\d+)")


def load_raw(conn: sa.Connection, payload: dict[str, Any] | csvbars.CsvBars, run_id: int) -> int:
    """Append the payload's bars to ``etl.raw_intraday`` with COPY and record, on the run, how
    many and which time range they cover (deduplication finds the loads by it); the row count.

    ``payload`` is what :func:`fetch` returns (checked whole: structure and values). Runs in the
    caller's transaction: a value PostgreSQL refuses all the same (not a number, not a time, a
    price the table's CHECK constraints refuse — a payload made by hand skips the fetch's checks)
    raises :class:`MalformedPayload` naming the bar, and the caller's rollback leaves nothing
    behind. A time the payload sends twice is loaded twice: deduplication removes the copy.

    ``payload`` may also be a :class:`~.csvbars.CsvBars` (a CSV answer, :func:`fetch` with
    ``datatype="csv"``): the same rows, rendered by Arrow (:func:`load_csv`)."""
    if isinstance(payload, csvbars.CsvBars):
        return load_csv(conn, payload, run_id)
    rendered = RawCsv(payload, run_id)
    try:
        _copy(conn, rendered)
    except psycopg2.Error as exc:
        if rendered.error is not None:
            raise rendered.error from None
        raise _refused(
            exc, rendered.stamps.__getitem__, len(rendered.stamps), f"{rendered.symbol} {rendered.interval}"
        ) from None
    return _record_load(conn, run_id, rendered.rows, rendered.bounds())


def load_csv(conn: sa.Connection, bars: csvbars.CsvBars, run_id: int) -> int:
    """:func:`load_raw` for a checked CSV answer: its COPY lines, rendered by Arrow, with the run's id."""
    stamps = bars.table["timestamp"]
    try:
        _copy(conn, io.BytesIO(csvbars.copy_text(bars, run_id)))
    except psycopg2.Error as exc:
        raise _refused(exc, lambda i: stamps[i].as_py(), len(stamps), bars.where) from None
    span = bars.span()
    bounds = span and (span[0] + utc_offset(span[0][:10]), span[1] + utc_offset(span[1][:10]))
    return _record_load(conn, run_id, bars.table.num_rows, bounds)


def _copy(conn: sa.Connection, source) -> None:
    with db.psycopg2_connection(conn).cursor() as cur:
        cur.copy_expert(COPY_RAW, source, size=1 << 20)
        # summarise the new rows in the BRIN index now (autovacuum would, later)
        cur.execute("SELECT brin_summarize_new_values('etl.raw_intraday_run_idx')")


def _refused(exc: psycopg2.Error, stamp, rows: int, where: str) -> Exception:
    """A value PostgreSQL refused, as :class:`MalformedPayload` naming the bar (``stamp(i)``: the
    time of the i-th row COPYed); any other database error as it is."""
    if not isinstance(exc, (psycopg2.DataError, psycopg2.IntegrityError)):
        return exc
    line = _COPY_LINE.search(getattr(exc.diag, "context", None) or "")
    bar = stamp(int(line.group(1)) - 1) if line and int(line.group(1)) <= rows else "?"
    reason = (exc.diag.message_primary or str(exc)).strip()
    return MalformedPayload(f"{where}: bar {bar}: {reason}")


def _record_load(conn: sa.Connection, run_id: int, rows: int, bounds: tuple[str, str] | None) -> int:
    """Record on the run how many raw rows it loaded and which bar times they cover."""
    conn.execute(
        sa.text(
            "UPDATE etl.runs SET raw_rows = :n, first_bar = CAST(:first AS timestamptz), "
            "last_bar = CAST(:last AS timestamptz) WHERE run_id = :id"
        ),
        {"n": rows, "first": bounds and bounds[0], "last": bounds and bounds[1], "id": run_id},
    )
    return rows


def months_of(payload: dict[str, Any] | csvbars.CsvBars, month: str) -> list[str]:
    """The months a payload's bars fall in, with ``month`` (an answer may overlap the month before)."""
    if isinstance(payload, csvbars.CsvBars):
        span = payload.span()
    else:
        series = payload[f"Time Series ({payload['Meta Data']['4. Interval']})"]
        span = series and (min(series), max(series))
    if not span:
        return [month]
    return months_between(min(span[0], month), max(span[1][:7], month))


def fetch_ahead(
    client: alphavantage.Client,
    jobs: list[tuple[str, str]],
    interval: str = "5min",
    *,
    extended_hours: bool = False,
    datatype: str = "json",
    adjusted: bool = False,
):
    """Yield ``((symbol, month), answer)`` for each job, downloading the next one in a thread
    while the caller loads the current one. The answer is an :class:`~.alphavantage.Answer`:
    the caller parses it (:func:`decode`; :func:`run_month` does) — a parse in the thread would
    hold Python's GIL and stall the COPY that feeds the database. A CSV answer is the exception:
    Arrow parses and checks it (:mod:`.csvbars`) mostly without the GIL, so the thread does, and
    yields a :class:`~.csvbars.CsvBars`. A failed fetch (or a refused CSV answer) is yielded as its
    exception, for the caller to record."""

    def attempt(symbol, month):
        try:
            answer = client.intraday(
                symbol,
                month,
                interval,
                extended_hours=extended_hours,
                adjusted=adjusted,
                datatype=datatype,
                decode=False,
            )
            if isinstance(answer, alphavantage.Answer) and answer.datatype == "csv":
                return csvbars.parse(answer)
            return answer
        except alphavantage.AlphaVantageError as exc:
            return exc

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fetch-ahead") as pool:
        pending = pool.submit(attempt, *jobs[0]) if jobs else None
        for i, job in enumerate(jobs):
            current = pending
            assert current is not None  # submitted for this job in the previous round
            pending = pool.submit(attempt, *jobs[i + 1]) if i + 1 < len(jobs) else None
            yield job, current.result()
