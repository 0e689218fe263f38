"""Batch vs stream, and Lambda vs Kappa, on the same trade events in PostgreSQL.

The events: trades of a few symbols over some minutes. Some arrive late (after their
minute is over), and one trade is later **corrected** (same ``trade_id``, new price and
quantity; the newest version by log offset is the truth). The question every design must
answer: what are volume and notional per symbol and minute?

* :func:`truth` — the batch answer over the whole log, newest version of each trade.
* :class:`WindowAggregator` — a stream processor with tumbling one-minute windows and two
  settings, as Flink and Beam have them: the **watermark delay** (how far the watermark trails the
  latest event time: a window fires once the watermark passes its end) and the **allowed
  lateness** (how long a fired window still takes late events, firing again): fast answers, but
  events later than both are dropped.
* Lambda (:func:`lambda_batch`, :func:`lambda_speed`, :func:`lambda_serving`): a batch
  layer recomputes everything now and then from the log (the master dataset); a speed layer
  adds what arrived since; the serving layer merges both. Two code paths to keep in step.
* Kappa (:func:`kappa_consume`, :func:`kappa_replay`): one log, one processor. To recompute —
  new logic, a bug fix — replay the log from offset 0 into a fresh view.

The speed layer and the Kappa consumer are **the same incremental code** (:func:`_apply`), with or
without **memory of earlier versions** (``remember_versions``): with it, a correction subtracts the
version it replaces (read from the log) and adds the new one; without it, a correction is added as
one more trade. That choice, not the architecture, decides whether a view is right the moment a
correction arrives. What the architecture decides is what happens next: Lambda's batch layer
recomputes from the log and repairs an approximate speed layer at its next run; Kappa has no other
path — a replay runs the same consumer again, so its logic must be exact (:func:`late_arrival_story`).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

import numpy as np
import pandas as pd
import sqlalchemy as sa

from .. import db, params

VIEW_COLUMNS = ["symbol", "minute", "volume", "notional"]


#: The parameters of lesson 4 (04_batch_stream_lambda_kappa), checked at its top by :func:`fdelib.params.check`.
PARAMETERS = {
    "seed": params.Integer(0),
    "as_of": params.Date(),
    "minutes": params.Integer(3, 60, why="the story needs early minutes and two ticks of late arrivals"),
    "late_share": params.Number(0, 0.9),
    "watermark_delay": params.Number(0, 30),
    "allowed_lateness": params.Number(0, 30),
}


# --- events --------------------------------------------------------------------------


def make_events(
    seed: int,
    as_of: str,
    minutes: int = 6,
    per_minute: int = 8,
    symbols: tuple[str, ...] = ("ACME", "GLOBX"),
    late_share: float = 0.15,
) -> pd.DataFrame:
    """Seeded trades in arrival order, with late arrivals and one correction at the end.

    ``arrival`` is the demo clock's tick (a minute index) when the event reached us.
    """
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(f"{as_of} 14:30", tz="UTC")
    rows = []
    for minute in range(minutes):
        for i in range(per_minute):
            symbol = symbols[i % len(symbols)]
            late = rng.random() < late_share
            rows.append(
                {
                    "trade_id": f"T{minute:02d}{i:02d}",
                    "symbol": symbol,
                    "event_time": start + pd.Timedelta(minutes=minute, seconds=int(rng.integers(0, 60))),
                    "arrival": minute + (int(rng.integers(2, 4)) if late else 0),
                    "price": round(float((100 if symbol == symbols[0] else 40) * (1 + rng.normal(0, 0.002))), 4),
                    "quantity": int(rng.integers(1, 10)) * 100,
                    "is_correction": False,
                }
            )
    corrected = dict(rows[len(rows) // 3])
    corrected.update(
        price=round(corrected["price"] * 1.01, 4),
        quantity=corrected["quantity"] + 500,
        arrival=minutes + 1,
        is_correction=True,
    )
    events = pd.DataFrame([*rows, corrected])
    return events.sort_values(["arrival", "event_time"], kind="stable").reset_index(drop=True)


def describe(events: pd.DataFrame) -> dict[str, int]:
    """How many events, how many arrived after their minute, how many corrections."""
    start = events["event_time"].min().floor("min")
    minute_index = (events["event_time"] - start) // pd.Timedelta(minutes=1)
    return {
        "events": len(events),
        "arrived late": int((events["arrival"] > minute_index).sum()),
        "corrections": int(events["is_correction"].sum()),
    }


def reset(engine: sa.Engine) -> None:
    """Create the lessons' tables (idempotent), then empty the log, the views and the offsets."""
    from . import tasks

    tasks.setup(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("""
            TRUNCATE workflows.trade_events, workflows.lambda_batch_view,
                     workflows.lambda_speed_view, workflows.kappa_view,
                     workflows.consumer_offsets RESTART IDENTITY""")


def append(engine: sa.Engine, events: pd.DataFrame) -> int:
    """Append events to the log in arrival order (the log's offset is their sequence)."""
    return db.copy_dataframe(
        events,
        "trade_events",
        engine,
        schema="workflows",
        columns=["trade_id", "symbol", "event_time", "arrival", "price", "quantity", "is_correction"],
    )


# --- the batch answer ----------------------------------------------------------------

LATEST = """
    SELECT DISTINCT ON (trade_id) trade_id, symbol, event_time, price, quantity, "offset"
    FROM workflows.trade_events
    WHERE "offset" <= :upto
    ORDER BY trade_id, "offset" DESC
"""


def truth(engine: sa.Engine, upto: int | None = None) -> pd.DataFrame:
    """Volume and notional per symbol and minute from the newest version of every trade."""
    return _view(
        db.read_frame(
            f"""
        SELECT symbol, date_trunc('minute', event_time) AS minute,
               sum(quantity) AS volume, sum(price * quantity) AS notional
        FROM ({LATEST}) latest GROUP BY 1, 2
    """,
            {"upto": upto if upto is not None else 2**62},
            engine=engine,
        )
    )


def _view(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame[VIEW_COLUMNS].copy()
    frame["volume"] = frame["volume"].astype("int64")
    frame["notional"] = frame["notional"].astype(float).round(2)
    return frame.sort_values(["symbol", "minute"]).reset_index(drop=True)


def compare(answer: pd.DataFrame, expected: pd.DataFrame) -> pd.DataFrame:
    """Rows where an answer differs from the expected one (empty = correct)."""
    merged = expected.merge(
        answer, on=["symbol", "minute"], how="outer", suffixes=("_expected", "_answer"), indicator=True
    )
    wrong = merged[
        (merged["_merge"] != "both")
        | (merged["volume_expected"] != merged["volume_answer"])
        | ((merged["notional_expected"] - merged["notional_answer"]).abs() > 0.005)
    ]
    return wrong.drop(columns="_merge").reset_index(drop=True)


# --- stream processing ---------------------------------------------------------------


@dataclasses.dataclass
class WindowAggregator:
    """Tumbling one-minute windows, fired by a watermark and kept for the allowed lateness.

    Two settings (Flink's bounded out-of-orderness and ``allowedLateness``, Beam's watermark and
    ``withAllowedLateness``):

    * ``watermark_delay``: the watermark is the latest event time seen minus this delay; a window
      **fires** (emits its result) once the watermark passes its end. A longer delay waits for
      more stragglers before the first answer, and delays every answer.
    * ``allowed_lateness``: how long after that the fired window is kept. An event that arrives
      behind the watermark but within it updates the window, which fires again (``late_kept``
      counts them); after it the window's state is discarded, and a later event is *dropped*.

    A correction is treated as one more trade: this job keeps no memory of past versions (the
    incremental views below can: see ``remember_versions``).
    """

    watermark_delay: pd.Timedelta = dataclasses.field(default_factory=lambda: pd.Timedelta(minutes=1))
    allowed_lateness: pd.Timedelta = dataclasses.field(default_factory=lambda: pd.Timedelta(0))
    open: dict = dataclasses.field(default_factory=lambda: defaultdict(lambda: [0, 0.0]))
    fired: dict = dataclasses.field(default_factory=dict)  # fired, still taking late events
    closed: dict = dataclasses.field(default_factory=dict)  # final: later events are dropped
    watermark: pd.Timestamp | None = None
    dropped: int = 0
    late_kept: int = 0
    processed: int = 0

    def process(self, event: dict) -> None:
        self.processed += 1
        minute = pd.Timestamp(event["event_time"]).floor("min")
        key = (event["symbol"], minute)
        end = minute + pd.Timedelta(minutes=1)
        behind = self.watermark is not None and end <= self.watermark
        if key in self.closed or (
            behind and end + self.allowed_lateness <= self.watermark and key not in self.open and key not in self.fired
        ):
            self.dropped += 1
            return
        if behind:
            self.late_kept += 1
        window = self.fired[key] if key in self.fired else self.open[key]
        window[0] += int(event["quantity"])
        window[1] += float(event["price"]) * int(event["quantity"])
        seen = pd.Timestamp(event["event_time"]) - self.watermark_delay
        self.watermark = seen if self.watermark is None else max(self.watermark, seen)
        for k in [k for k in self.open if k[1] + pd.Timedelta(minutes=1) <= self.watermark]:
            self.fired[k] = self.open.pop(k)
        for k in [k for k in self.fired if k[1] + pd.Timedelta(minutes=1) + self.allowed_lateness <= self.watermark]:
            self.closed[k] = self.fired.pop(k)

    def flush(self) -> pd.DataFrame:
        """Close every window (end of stream) and return all results."""
        self.closed.update(self.fired)
        self.closed.update(self.open)
        self.fired.clear()
        self.open.clear()
        rows = [(s, m, v, n) for (s, m), (v, n) in self.closed.items()]
        return _view(pd.DataFrame(rows, columns=VIEW_COLUMNS))


def stream(
    events: pd.DataFrame, watermark_delay_minutes: float = 1, allowed_lateness_minutes: float = 0
) -> WindowAggregator:
    """Feed events in arrival order through a :class:`WindowAggregator`."""
    agg = WindowAggregator(
        pd.Timedelta(minutes=watermark_delay_minutes), pd.Timedelta(minutes=allowed_lateness_minutes)
    )
    for event in events.to_dict("records"):
        agg.process(event)
    return agg


# --- Lambda ----------------------------------------------------------------------------


def lambda_batch(engine: sa.Engine) -> int:
    """Batch layer: recompute the batch view from the whole log; reset the speed layer.

    Returns the number of events it read (all of them: that is its cost)."""
    with engine.begin() as conn:
        upto = conn.exec_driver_sql('SELECT coalesce(max("offset"), 0) FROM workflows.trade_events').scalar_one()
        conn.exec_driver_sql("TRUNCATE workflows.lambda_batch_view, workflows.lambda_speed_view")
        conn.execute(
            sa.text(f"""
            INSERT INTO workflows.lambda_batch_view
            SELECT symbol, date_trunc('minute', event_time), sum(quantity),
                   sum(price * quantity), :upto
            FROM ({LATEST}) latest GROUP BY 1, 2
        """),
            {"upto": upto},
        )
        _set_offset(conn, "lambda_speed", upto)
        return conn.exec_driver_sql(
            'SELECT count(*) FROM workflows.trade_events WHERE "offset" <= %s', (upto,)
        ).scalar_one()


def _apply(conn: sa.Connection, view: str, start: int, upto: int, remember_versions: bool) -> int:
    """Add the log's events after ``start`` up to ``upto`` to ``view`` as deltas per window.

    With ``remember_versions`` a correction (a later event with the same ``trade_id``) also
    subtracts the version it replaces — looked up in the log, wherever that version was processed;
    without, it is added as one more trade. Returns the number of new events read."""
    if remember_versions:
        sql = """
            WITH versions AS (
                SELECT "offset", symbol, date_trunc('minute', event_time) AS minute,
                       quantity, price * quantity AS notional,
                       lag(symbol) OVER w AS old_symbol,
                       lag(date_trunc('minute', event_time)) OVER w AS old_minute,
                       lag(quantity) OVER w AS old_quantity,
                       lag(price * quantity) OVER w AS old_notional
                FROM workflows.trade_events WHERE "offset" <= :upto
                WINDOW w AS (PARTITION BY trade_id ORDER BY "offset")
            ), deltas AS (
                SELECT symbol, minute, quantity AS volume, notional
                FROM versions WHERE "offset" > :start
                UNION ALL
                SELECT old_symbol, old_minute, -old_quantity, -old_notional
                FROM versions WHERE "offset" > :start AND old_symbol IS NOT NULL
            )"""
    else:
        sql = """
            WITH deltas AS (
                SELECT symbol, date_trunc('minute', event_time) AS minute, quantity AS volume,
                       price * quantity AS notional
                FROM workflows.trade_events WHERE "offset" > :start AND "offset" <= :upto
            )"""
    conn.execute(
        sa.text(
            sql
            + f"""
        INSERT INTO workflows.{view} AS v
        SELECT symbol, minute, sum(volume), sum(notional) FROM deltas GROUP BY 1, 2
        ON CONFLICT (symbol, minute) DO UPDATE
        SET volume = v.volume + EXCLUDED.volume, notional = v.notional + EXCLUDED.notional
    """
        ),
        {"start": start, "upto": upto},
    )
    return upto - start


def lambda_speed(engine: sa.Engine, remember_versions: bool = False) -> int:
    """Speed layer: add events that arrived since the last batch; returns the events it read.
    Without memory of earlier versions (the default, as Lambda's speed layer is often written:
    approximate, because the next batch will fix it) a correction is added like a new trade."""
    with engine.begin() as conn:
        start, upto = _advance(conn, "lambda_speed")
        return _apply(conn, "lambda_speed_view", start, upto, remember_versions)


def lambda_serving(engine: sa.Engine) -> pd.DataFrame:
    """Serving layer: batch view + speed view."""
    return _view(
        db.read_frame(
            """
        SELECT symbol, minute, sum(volume) AS volume, sum(notional) AS notional FROM (
            SELECT symbol, minute, volume, notional FROM workflows.lambda_batch_view
            UNION ALL
            SELECT symbol, minute, volume, notional FROM workflows.lambda_speed_view) both_layers
        GROUP BY 1, 2
    """,
            engine=engine,
        )
    )


# --- Kappa -----------------------------------------------------------------------------


def kappa_consume(engine: sa.Engine, remember_versions: bool = True) -> int:
    """Apply new log events to the Kappa view as deltas; returns the events read. With memory of
    earlier versions (the default: Kappa has no batch layer to fix it later) a correction
    subtracts the previous version of its trade and adds the new one."""
    with engine.begin() as conn:
        start, upto = _advance(conn, "kappa")
        return _apply(conn, "kappa_view", start, upto, remember_versions)


def kappa_replay(engine: sa.Engine, remember_versions: bool = True) -> int:
    """Recompute: empty the view, rewind the consumer to offset 0, consume the whole log."""
    with engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE workflows.kappa_view")
        _set_offset(conn, "kappa", 0)
    return kappa_consume(engine, remember_versions)


def kappa_view(engine: sa.Engine) -> pd.DataFrame:
    return _view(db.read_frame("SELECT * FROM workflows.kappa_view WHERE volume <> 0", engine=engine))


# --- the story: early events, then late ones ------------------------------------------

MEMORY = {False: "no memory of versions", True: "memory of versions"}


def late_arrival_story(engine: sa.Engine, events: pd.DataFrame, early_until: int) -> dict:
    """Both architectures on the same story, like for like: once with the speed layer and the Kappa
    consumer both *without* memory of earlier trade versions, once both *with* it.

    Each run starts from an emptied log: the events arriving up to tick ``early_until`` are
    appended, Lambda's batch layer and Kappa's consumer process them; then the rest (late trades,
    the correction) arrive, Lambda's speed layer and Kappa's consumer process those. Counted, per
    variant: the windows each serving view gets wrong right then, and after each architecture's
    way to recompute (Lambda's next batch run, Kappa's replay).

    Returns ``wrong`` (that table: one row per architecture and moment, one column per variant),
    ``errors`` (answer minus truth per window right after the late
    events, for drawing), ``work`` (events each component read, in the run with memory) and the
    batch ``truth``. The database is left as the run with memory leaves it."""
    rows, errors = [], []
    for remember in (False, True):
        reset(engine)
        append(engine, events[events["arrival"] <= early_until])
        work = {"lambda batch": lambda_batch(engine), "kappa": kappa_consume(engine, remember)}
        append(engine, events[events["arrival"] > early_until])
        work["lambda speed"] = lambda_speed(engine, remember)
        work["kappa"] += kappa_consume(engine, remember)
        expected = truth(engine)
        answers = {"Lambda": lambda_serving(engine), "Kappa": kappa_view(engine)}
        for name, answer in answers.items():
            errors.append(
                window_errors(answer, expected).assign(variant=f"{name}, {'with' if remember else 'no'} memory")
            )
        row = {
            "Lambda: after the speed layer": len(compare(answers["Lambda"], expected)),
            "Kappa: after the consumer": len(compare(answers["Kappa"], expected)),
        }
        work["lambda batch"] += lambda_batch(engine)
        work["kappa replay"] = kappa_replay(engine, remember)
        row["Lambda: after its next batch"] = len(compare(lambda_serving(engine), expected))
        row["Kappa: after a replay"] = len(compare(kappa_view(engine), expected))
        rows.append({"variant": MEMORY[remember], **row})
    wrong = (
        pd.DataFrame(rows)
        .set_index("variant")[
            [
                "Lambda: after the speed layer",
                "Lambda: after its next batch",
                "Kappa: after the consumer",
                "Kappa: after a replay",
            ]
        ]
        .T.rename_axis(index="windows wrong", columns=None)
    )
    return {"wrong": wrong, "errors": pd.concat(errors, ignore_index=True), "work": work, "truth": expected}


def window_errors(answer: pd.DataFrame, expected: pd.DataFrame) -> pd.DataFrame:
    """Per window of the truth: the answer's volume minus the true volume (0 where right), with a
    short two-line label ``SYMBOL`` / ``HH:MM`` (UTC) for plotting."""
    merged = expected.merge(answer, on=["symbol", "minute"], how="left", suffixes=("_true", ""))
    return pd.DataFrame(
        {
            "window": merged["symbol"] + "\n" + merged["minute"].dt.strftime("%H:%M"),
            "volume_error": merged["volume"].fillna(0).astype("int64") - merged["volume_true"],
        }
    )


# --- consumer offsets ----------------------------------------------------------------


def _set_offset(conn: sa.Connection, consumer: str, offset: int) -> None:
    conn.execute(
        sa.text("""
        INSERT INTO workflows.consumer_offsets VALUES (:c, :o)
        ON CONFLICT (consumer) DO UPDATE SET last_offset = EXCLUDED.last_offset
    """),
        {"c": consumer, "o": offset},
    )


def _advance(conn: sa.Connection, consumer: str) -> tuple[int, int]:
    """(last processed offset, newest offset) and move the consumer to the newest."""
    conn.execute(
        sa.text("INSERT INTO workflows.consumer_offsets VALUES (:c, 0) ON CONFLICT DO NOTHING"), {"c": consumer}
    )
    start = conn.execute(
        sa.text("SELECT last_offset FROM workflows.consumer_offsets WHERE consumer = :c FOR UPDATE"), {"c": consumer}
    ).scalar_one()  # the row the INSERT above made sure of
    upto = conn.exec_driver_sql('SELECT coalesce(max("offset"), 0) FROM workflows.trade_events').scalar_one()
    _set_offset(conn, consumer, upto)
    return start, upto
