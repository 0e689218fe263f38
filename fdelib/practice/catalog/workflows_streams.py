"""01_workflows/04_batch_stream_lambda_kappa: the batch answer with trade versions, what is
wrong under Lambda after a late correction, what a Kappa replay reads; concept checks on
batch vs stream, watermarks and Lambda vs Kappa."""

from fdelib.practice import Catalog, Wrong

catalog = Catalog("01_workflows/04_batch_stream_lambda_kappa.ipynb")

# The query runs on the lesson's log (workflows.trade_events), which the notebook filled
# deterministically: one trade there has two versions (the late correction), so counting
# every version, or keeping the first one, changes exactly that trade's window.
# A small copy of the log: one trade corrected to a later time, one corrected to an earlier time
# (so ordering by event_time keeps a wrong version either way), one corrected twice, rows stored
# out of offset order.
EVENTS = """
CREATE TABLE trade_events ("offset" integer PRIMARY KEY, trade_id text NOT NULL, symbol text NOT NULL,
    event_time timestamptz NOT NULL, arrival timestamptz, price numeric(12,4) NOT NULL,
    quantity integer NOT NULL, is_correction boolean NOT NULL DEFAULT false);
INSERT INTO trade_events ("offset", trade_id, symbol, event_time, price, quantity, is_correction) VALUES
    (5, 'T2', 'ACME', '2026-01-02 14:31:10+00', 10.1000, 300, true),
    (0, 'T1', 'ACME', '2026-01-02 14:30:50+00', 10.0000, 100, false),
    (1, 'T2', 'ACME', '2026-01-02 14:32:20+00', 10.2000, 200, false),
    (2, 'T3', 'GLOBX', '2026-01-02 14:30:05+00', 40.0000, 50, false),
    (4, 'T1', 'ACME', '2026-01-02 14:31:05+00', 10.0500, 150, true),
    (3, 'T4', 'GLOBX', '2026-01-02 14:31:30+00', 40.5000, 70, false),
    (6, 'T4', 'GLOBX', '2026-01-02 14:31:30+00', 40.2500, 80, true),
    (7, 'T4', 'GLOBX', '2026-01-02 14:31:30+00', 40.3000, 90, true);
"""

catalog.sql_query(
    "latest_version_volume",
    copy=EVENTS,
    copy_of=("workflows",),
    copy_says="a small copy of the log (trades corrected to a later and to an earlier time, one corrected twice)",
    blank_hint="Write a SELECT on workflows.trade_events under the cell's first line (keep "
    "`%%sql --save latest_version_volume`), run it, then this check. Start from one row "
    'per trade: the version with the highest "offset" (DISTINCT ON (trade_id) ... ORDER BY '
    "trade_id, \"offset\" DESC), then group by symbol and date_trunc('minute', event_time).",
    wrong=[
        Wrong(
            "%%sql --save latest_version_volume\n"
            "SELECT symbol, date_trunc('minute', event_time) AS minute,\n"
            "       sum(quantity) AS volume, sum(price * quantity) AS notional\n"
            "FROM workflows.trade_events\nGROUP BY symbol, minute\nORDER BY symbol, minute\n",
            "That counts every version of a trade: the corrected trade is in its window twice (its "
            "first version and the correction). Keep one row per trade_id — its newest version, the "
            'highest "offset" — before grouping.',
        ),
        Wrong(
            "%%sql --save latest_version_volume\n"
            "SELECT symbol, date_trunc('minute', event_time) AS minute,\n"
            "       sum(quantity) AS volume, sum(price * quantity) AS notional\n"
            "FROM (SELECT DISTINCT ON (trade_id) trade_id, symbol, event_time, price, quantity\n"
            "      FROM workflows.trade_events\n"
            '      ORDER BY trade_id, "offset") AS latest\n'
            "GROUP BY symbol, minute\nORDER BY symbol, minute\n",
            "One row per trade, but the oldest one: DISTINCT ON keeps the first row of each trade_id "
            "in ORDER BY order, so the correction is ignored. Sort each trade's versions newest first "
            '("offset" DESC).',
        ),
    ],
    passed="Volume and notional per symbol and minute from the newest version of every trade: the "
    "batch layer's answer, what Lambda's next batch run and a Kappa replay with memory both "
    "converge to.",
)


# The answers follow the notebook's parameters (seed, minutes, late_share): read from its events.
def correction_window(namespace) -> str:
    """The one-minute window of the corrected trade, like "ACME 14:32"."""
    events = namespace.get("events")
    if events is None:  # (not run in a notebook: the default run's answer)
        return "ACME 14:32"
    row = events[events["is_correction"]].iloc[0]
    return f"{row['symbol']} {row['event_time']:%H:%M}"


def log_length(namespace) -> int:
    events = namespace.get("events")
    return 49 if events is None else len(events)


catalog.value(
    "lambda_wrong_window",
    name="wrong_window",
    answer=correction_window,
    blank_hint='Look at the last events to arrive (the table under "Make the seeded events"): which '
    "one is a correction, and in which one-minute window (its symbol, and the minute of its "
    'event_time) does it land? Answer like "ACME 14:35".',
    wrong=[
        Wrong(
            'wrong_window = "GLOBX 14:35"\n',
            "GLOBX's 14:35 trade arrived late, but a late *new* trade is simply added by the speed "
            "layer: its window is right. What a memoryless layer gets wrong is a trade that arrives "
            "a second time — the correction.",
        ),
        Wrong(
            'wrong_window = "none"\n',
            "The serving layer is the batch view plus the speed view: until the next batch run, the "
            "speed view's mistake is in the answer. Which window does the correction add to?",
        ),
        Wrong(
            'wrong_window = "ACME 14:35"\n',
            "Windows are by event time, not by arrival: the correction belongs to the minute its "
            "trade happened (its event_time), however late it arrives.",
        ),
    ],
    passed="The corrected trade's own window: without memory of the version it replaces, the speed "
    "layer adds the correction as one more trade, so that window counts both versions until "
    "the next batch run recomputes it.",
)

catalog.value(
    "replay_reads",
    name="replay_reads",
    answer=log_length,
    blank_hint="A replay empties the view, sets the consumer's offset back to 0 and consumes the log "
    "again: how many events are in the log? (`events` holds them all; the default run has 49.)",
    wrong=[
        Wrong(
            "replay_reads = 12\n",
            "12 is what the speed layer read: the events since its last offset. A replay rewinds the "
            "consumer to offset 0 and reads the whole log, every event from the start.",
        ),
        Wrong(
            "replay_reads = 0\n",
            "The consumer was up to date, so an ordinary consume reads nothing new — but a replay "
            "rewinds it to offset 0 and reads every event again.",
        ),
    ],
    passed="The whole log, once: Kappa recomputes by running its one consumer over every event from "
    "offset 0 — cheaper than Lambda's batch re-reads here, and exact only if that consumer is.",
)

# --- concept checks (chapter 11: batch vs stream, watermarks, Lambda vs Kappa) -------------

catalog.choice(
    "concept_batch_or_stream",
    name="answer_stream",
    options={
        "A": "the end-of-day P&L report for the desk",
        "B": "the live intraday exposure per desk, updated on every trade of the day",
        "C": "the monthly regulatory transaction report",
        "D": "recomputing last year's VWAPs after the vendor corrected its prints",
    },
    correct="B",
    hints={
        "A": "End of day: all the day's trades are in, and the report must be complete and "
        "correct — what a batch run over the whole day gives.",
        "C": "A monthly report waits for the month to end anyway: batch, complete and correct.",
        "D": "Recomputing history from the corrected data is a batch job (or a Kappa replay): no "
        "one is waiting for each event.",
    },
    blank_hint="Which job cannot wait for a batch run? Set answer_stream to a letter.",
    passed="Intraday exposure must follow each trade as it happens: stream processing over the trade "
    "feed. The others can wait for all their data and want it complete: batch. (A pre-trade limit "
    "check is neither: a synchronous check in the order path, which must answer before the order "
    "goes out.)",
)

catalog.value(
    "concept_watermark",
    name="closed_window",
    answer="14:33",
    blank_hint="The watermark is the latest event time seen minus the watermark delay. A one-minute "
    "window is closed once its END is at or before the watermark (with no allowed lateness). Answer its start, "
    'like "14:30".',
    wrong=[
        Wrong(
            'closed_window = "14:34"\n',
            "The 14:34 window ends at 14:35, after the watermark (14:34:20): a late event for it may "
            "still come. A window closes when its end is at or before the watermark.",
        ),
        Wrong(
            'closed_window = "14:35"\n',
            "14:35 is the minute of the latest event: its window is wide open. The watermark lags "
            "the latest event time by the watermark delay.",
        ),
    ],
    passed="Watermark 14:35:20 minus 1 min = 14:34:20: the 14:33 window (ending 14:34) is the newest "
    "closed one. A longer watermark delay drops fewer late events and delays every answer; an "
    "allowed lateness keeps a fired window taking late events (firing it again) instead.",
)

catalog.choice(
    "concept_lambda_kappa",
    name="answer_fix",
    options={
        "A": "Lambda: fix the batch and the speed layer, then re-run the batch layer; "
        "Kappa: fix the consumer, then replay the log from offset 0 into a fresh view",
        "B": "Kappa cannot correct history: without a batch layer only new events get the fix",
        "C": "Lambda: fix only the speed layer; the batch layer picks the fix up by itself",
        "D": "Both: UPDATE the stored views; the log is only needed for new events",
    },
    correct="A",
    hints={
        "B": "Kappa keeps the whole log precisely so it can recompute: a replay from offset 0 "
        "runs the fixed consumer over every event.",
        "C": "Lambda's two code paths must agree: the batch layer computes with its own code, "
        "and it is the batch layer that repairs history.",
        "D": "Views are derived data: patching them by hand forgets why they were wrong. Both "
        "architectures recompute from the log, the source of truth.",
    },
    blank_hint="Notional per minute forgot to subtract fees: how does each architecture correct "
    "the history? Set answer_fix to a letter.",
    passed="Lambda repairs history with its batch layer (two code paths to fix), Kappa by replaying "
    "its one log through its one, fixed, consumer.",
)
