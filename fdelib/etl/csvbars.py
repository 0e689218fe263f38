"""The vectorised load path for ``datatype=csv`` answers: Arrow columns from parse to COPY.

The JSON path spends Python work on every bar (``json.loads``, the checks' conversions, the
COPY text). A CSV answer (``timestamp,open,high,low,close,volume``, newest first) can skip all of
it: :func:`parse` reads it with ``pyarrow.csv`` — every column as text, so prices reach
PostgreSQL exactly as sent — and checks it column by column with the JSON path's rules (the
stamp's shape; finite prices with ``0 < low <= open, close <= high``; a whole volume ``>= 0``;
copies of a time sent twice agree). :func:`load` adds New York's UTC offset per distinct day,
renders the COPY text with ``pyarrow.csv.write_csv`` and COPYs it into ``etl.raw_intraday``
(a time sent twice is loaded twice, as the JSON path does). All of that but the run's id is done
ahead, with the parse (:func:`.pipeline.fetch_ahead` runs it in its download thread: Arrow works
without Python's GIL): the COPY text is rendered without ``run_id``, and :func:`copy_text` ends
each line with it — one ``bytes.replace``.

A refused answer is explained by the JSON path's own code (:func:`.alphavantage.from_csv`),
run only then: the error names the same first bad bar, in the same words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from . import alphavantage
from .alphavantage import CSV_HEADER, MalformedPayload
from .sessions import utc_offset

COLUMNS = CSV_HEADER.split(",")
VALUES = COLUMNS[1:]
# alphavantage._STAMP (Python's \d is any Unicode digit, like \p{Nd})
_STAMP = r"^\p{Nd}{4}-\p{Nd}\p{Nd}-\p{Nd}\p{Nd} \p{Nd}\p{Nd}:\p{Nd}\p{Nd}:\p{Nd}\p{Nd}$"
_READ = {
    "parse_options": pcsv.ParseOptions(quote_char=False),  # a comma always splits, as in from_csv
    "convert_options": pcsv.ConvertOptions(
        column_types={c: pa.string() for c in COLUMNS}, strings_can_be_null=False, include_columns=COLUMNS
    ),
}


@dataclass(frozen=True)
class CsvBars:
    """A checked CSV answer: its bars as Arrow text columns in the order sent, their time span
    (US/Eastern text), and their COPY lines without ``run_id`` (see :func:`copy_text`)."""

    symbol: str
    interval: str
    table: pa.Table
    lines: bytes
    first: str | None
    last: str | None

    @property
    def where(self) -> str:
        return f"{self.symbol} {self.interval}"

    def span(self) -> tuple[str, str] | None:
        """The first and last bar time (US/Eastern text), None without bars."""
        if not self.table.num_rows or self.first is None or self.last is None:
            return None
        return (self.first, self.last)

    def __repr__(self) -> str:
        return f"CsvBars({self.where}, {self.table.num_rows:,} bars)"


def parse(answer: alphavantage.Answer) -> CsvBars:
    """The CSV ``answer`` read and checked whole, its COPY lines rendered; raises
    :class:`MalformedPayload` like the JSON path."""
    data = answer.text.encode()
    if data.split(b"\n", 1)[0].strip() != CSV_HEADER.encode():
        refuse(answer, "no header")
    try:
        table = pcsv.read_csv(pa.py_buffer(data), **_READ).combine_chunks()
    except pa.ArrowInvalid as exc:
        refuse(answer, str(exc))
    if table.num_rows != data.count(b"\n") + (not data.endswith(b"\n")) - 1:
        refuse(answer, "an empty line")  # pyarrow skips empty lines; from_csv refuses them
    check(table, answer)
    return bars_of(answer.symbol, answer.interval, table)


def check(table: pa.Table, answer: alphavantage.Answer) -> None:
    """The JSON path's checks (:func:`.alphavantage.validate`), one column at a time."""
    if pc.any(pc.invert(pc.match_substring_regex(table["timestamp"], _STAMP))).as_py():
        refuse(answer, "a bar time is not 'YYYY-MM-DD HH:MM:SS'")
    if not _copies_agree(table):
        refuse(answer, "a time is sent twice with different values")
    try:
        prices = np.vstack([_numbers(table[c], pa.float64()) for c in VALUES[:4]])
        volume = _numbers(table["volume"], pa.int64())
    except (ValueError, TypeError, OverflowError) as exc:
        refuse(answer, str(exc))
    if not alphavantage.sane_bars(prices, volume).all():
        refuse(answer, "a bar's values")


def _numbers(column: pa.ChunkedArray, kind: pa.DataType) -> np.ndarray:
    """``column`` as numbers: Arrow's cast, or where it is stricter (spaces, '+5', '1_000'),
    the JSON path's conversion (numpy, Python's int/float)."""
    try:
        return pc.cast(column, kind).to_numpy()
    except pa.ArrowInvalid:
        return np.array(column.to_numpy(zero_copy_only=False), dtype=kind.to_pandas_dtype())


def _copies_agree(table: pa.Table) -> bool:
    """Whether every time sent more than once came with the same values each time."""
    stamps = table["timestamp"]
    if len(stamps) < 2 or pc.all(pc.greater(stamps[:-1], stamps[1:])).as_py():
        return True  # newest first, as the API sends: no time twice
    codes = pc.dictionary_encode(stamps).combine_chunks()
    indices = codes.indices.to_numpy()
    repeated = np.flatnonzero(np.bincount(indices)[indices] > 1)
    rows = table.take(repeated)
    order = np.argsort(indices[repeated], kind="stable")
    same_time = np.diff(indices[repeated][order]) == 0
    for name in VALUES:
        values = rows[name].to_numpy(zero_copy_only=False)[order]
        if (same_time & (values[1:] != values[:-1])).any():
            return False
    return True


def refuse(answer: alphavantage.Answer, found: str) -> NoReturn:
    """Raise the JSON path's error for ``answer`` (it names the first bad bar)."""
    alphavantage.from_csv(answer.text, answer.symbol, answer.interval)
    raise MalformedPayload(f"{answer.symbol} {answer.interval}: the CSV answer cannot be read ({found})")


def bars_of(symbol: str, interval: str, table: pa.Table) -> CsvBars:
    """``table``'s bars (columns as in the CSV answer, checked) with their COPY lines rendered."""
    symbol = symbol.upper()
    span = pc.min_max(table["timestamp"])
    return CsvBars(symbol, interval, table, render(symbol, interval, table), span["min"].as_py(), span["max"].as_py())


def copy_rows(symbol: str, interval: str, table: pa.Table) -> pa.Table:
    """The COPY rows of ``etl.raw_intraday`` but ``run_id``: the bar time gets New York's UTC offset,
    computed once per distinct day."""
    stamps, n = table["timestamp"].combine_chunks(), table.num_rows
    days = pc.dictionary_encode(pc.binary_slice(stamps.view(pa.binary()), 0, 10))  # checked: ASCII
    try:
        offsets = pa.array([utc_offset(day.decode()) for day in days.dictionary.to_pylist()], pa.string())
    except ValueError as exc:
        raise MalformedPayload(f"{symbol} {interval}: a bar key is not a date ({exc})") from None
    bar_time = pc.binary_join_element_wise(stamps, pc.take(offsets, days.indices), "")
    return pa.table(
        {
            "symbol": pa.repeat(symbol, n),
            "interval": pa.repeat(interval, n),
            "bar_time": bar_time,
            **{c: table[c] for c in VALUES},
        }
    )


def render(symbol: str, interval: str, table: pa.Table) -> bytes:
    """The COPY lines without ``run_id`` (no quoting: a value that would need it is refused)."""
    out = pa.BufferOutputStream()
    try:
        pcsv.write_csv(
            copy_rows(symbol, interval, table), out, pcsv.WriteOptions(include_header=False, quoting_style="none")
        )
    except pa.ArrowInvalid as exc:
        raise MalformedPayload(f"{symbol} {interval}: a value holds a comma, quote or line break ({exc})") from None
    return out.getvalue().to_pybytes()


def copy_text(bars: CsvBars, run_id: int) -> bytes:
    """The COPY text for ``etl.raw_intraday`` (RAW_COLUMNS): each line ended with the run's id."""
    return bars.lines.replace(b"\n", b",%d\n" % int(run_id))
