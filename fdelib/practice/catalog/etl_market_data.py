"""03_etl/01_market_data_etl: deduplicate by latest ingestion, aggregate a session's bars to its
daily OHLCV (open and close by time, the session's bars only), and a data-quality check — on the
sample tables of :mod:`fdelib.etl.sample`, shadowed here by small fixtures."""

from fdelib.practice import Catalog, Wrong

catalog = Catalog("03_etl/01_market_data_etl.ipynb")

# A bar re-fetched with a LOWER close and volume (so max(close) or max(volume) keeps the superseded
# one), another re-fetched with a HIGHER close and a lower volume (so min(close), or the largest
# volume, keeps its superseded one), a bar sent twice unchanged, rows stored out of order.
RAW = """
CREATE TABLE etl_raw_bars (symbol text, bar_time timestamptz, open numeric(18,4), high numeric(18,4),
    low numeric(18,4), close numeric(18,4), volume bigint, ingested_at timestamptz);
INSERT INTO etl_raw_bars VALUES
    ('ACME', '2025-11-28 13:00-05', 11.00, 11.00, 10.80, 10.80, 3900, '2025-11-30 01:30+00'),
    ('ACME', '2025-11-28 12:55-05', 10.90, 11.20, 10.80, 11.10,  600, '2025-11-29 01:30+00'),
    ('ACME', '2025-11-28 13:05-05', 11.05, 11.30, 11.00, 11.25,  150, '2025-11-30 01:30+00'),
    ('ACME', '2025-11-28 13:00-05', 11.00, 11.00, 11.00, 11.00, 4000, '2025-11-29 01:30+00'),
    ('ACME', '2025-11-28 12:55-05', 10.90, 11.20, 10.80, 11.10,  600, '2025-11-30 01:30+00'),
    ('ACME', '2025-11-28 13:05-05', 11.05, 11.30, 11.00, 11.20,  200, '2025-11-29 01:30+00');
"""

catalog.sql_query(
    "latest_bars",
    fixture=RAW,
    blank_hint="One row per (symbol, bar_time) from etl_raw_bars: the row with the latest ingested_at. "
    "DISTINCT ON (symbol, bar_time) keeps the first row of each group in ORDER BY order — so "
    "order each group's rows newest ingestion first.",
    wrong=[
        Wrong(
            "%%sql --save latest_bars\n"
            "SELECT DISTINCT ON (symbol, bar_time) symbol, bar_time, close, volume, ingested_at\n"
            "FROM etl_raw_bars\nORDER BY symbol, bar_time, ingested_at\n",
            "That keeps each bar's FIRST ingestion: DISTINCT ON takes the first row in ORDER BY order, so "
            "sort by ingested_at DESC to keep the latest version (a corrected bar must win).",
        ),
        Wrong(
            "%%sql --save latest_bars\n"
            "SELECT symbol, bar_time, max(close) AS close, max(volume) AS volume, max(ingested_at) AS ingested_at\n"
            "FROM etl_raw_bars\nGROUP BY symbol, bar_time\nORDER BY symbol, bar_time\n",
            "max() per column mixes versions: a corrected close lower than the first print loses to it. "
            "Keep whole rows — the one version with the latest ingested_at (DISTINCT ON … ORDER BY "
            "ingested_at DESC, or row_number() over the bar's versions).",
        ),
    ],
    passed="One row per bar, its latest ingestion: etl.deduplicate's DISTINCT ON, and the raw table keeps "
    "every version to rebuild from.",
)

# A regular day and a half day (close 13:00), with pre- and post-market bars, the closing auction's
# bar at the close, the session's highest close not its last one, a later bar opening below the
# first one (so min(open) is not the open), rows stored out of order.
BARS = """
CREATE TABLE etl_sessions (session date, open timestamptz, close timestamptz);
INSERT INTO etl_sessions VALUES
    ('2025-11-26', '2025-11-26 09:30-05', '2025-11-26 16:00-05'),
    ('2025-11-28', '2025-11-28 09:30-05', '2025-11-28 13:00-05');
CREATE TABLE etl_bars (symbol text, bar_time timestamptz, open numeric(18,4), high numeric(18,4),
    low numeric(18,4), close numeric(18,4), volume bigint);
INSERT INTO etl_bars VALUES
    ('ACME', '2025-11-26 15:55-05', 10.05, 10.60, 10.00, 10.50,  700),
    ('ACME', '2025-11-26 08:00-05', 10.00, 10.50,  9.90, 10.40,  100),
    ('ACME', '2025-11-26 09:35-05', 10.20, 11.00, 10.10, 10.90,  800),
    ('ACME', '2025-11-26 16:00-05', 10.45, 10.45, 10.45, 10.45, 5000),
    ('ACME', '2025-11-26 09:30-05', 10.10, 10.30, 10.00, 10.20, 1000),
    ('ACME', '2025-11-26 16:05-05', 10.50, 10.70, 10.40, 10.60,  300),
    ('ACME', '2025-11-28 13:00-05', 11.00, 11.00, 11.00, 11.00, 4000),
    ('ACME', '2025-11-28 09:30-05', 10.60, 10.80, 10.50, 10.70,  900),
    ('ACME', '2025-11-28 13:05-05', 11.05, 11.30, 11.00, 11.20,  200),
    ('ACME', '2025-11-28 12:55-05', 10.90, 11.20, 10.80, 11.10,  600);
"""

DAILY_HEAD = (
    "%%sql --save daily_bars\n"
    "SELECT b.symbol, s.session,\n"
    "       (array_agg(b.open ORDER BY b.bar_time))[1] AS open, max(b.high) AS high, min(b.low) AS low,\n"
)

catalog.sql_query(
    "daily_bars",
    fixture=BARS,
    blank_hint="Join etl_bars to etl_sessions on the session's bars (bar_time from open up to and including "
    "close), group by symbol and session: open = the first bar's open by time, close = the last "
    "bar's close by time ((array_agg(close ORDER BY bar_time DESC))[1]), high = max, low = min, "
    "volume = sum.",
    wrong=[
        Wrong(
            DAILY_HEAD + "       max(b.close) AS close, sum(b.volume) AS volume\n"
            "FROM etl_bars b JOIN etl_sessions s ON b.bar_time >= s.open AND b.bar_time <= s.close\n"
            "GROUP BY b.symbol, s.session\nORDER BY b.symbol, s.session\n",
            "max(close) is the session's highest close, not its last one: the daily close is the close of the "
            "last bar by time — the closing auction's ((array_agg(b.close ORDER BY b.bar_time DESC))[1]).",
        ),
        Wrong(
            "%%sql --save daily_bars\n"
            "SELECT symbol, (bar_time AT TIME ZONE 'America/New_York')::date AS session,\n"
            "       (array_agg(open ORDER BY bar_time))[1] AS open, max(high) AS high, min(low) AS low,\n"
            "       (array_agg(close ORDER BY bar_time DESC))[1] AS close, sum(volume) AS volume\n"
            "FROM etl_bars\nGROUP BY 1, 2\nORDER BY 1, 2\n",
            "Grouping by calendar day counts the pre- and post-market bars (04:00 to 20:00): the open becomes "
            "a pre-market price, the close a post-market one. Keep only each session's bars: join "
            "etl_sessions, bar_time between its open and close.",
        ),
        Wrong(
            DAILY_HEAD + "       (array_agg(b.close ORDER BY b.bar_time DESC))[1] AS close, sum(b.volume) AS volume\n"
            "FROM etl_bars b JOIN etl_sessions s ON b.bar_time >= s.open AND b.bar_time < s.close\n"
            "GROUP BY b.symbol, s.session\nORDER BY b.symbol, s.session\n",
            "bar_time < close leaves out the bar that starts AT the close — the closing auction: the official "
            "close and a large share of the day's volume. The session's last bar starts at its close "
            "(bar_time <= s.close).",
        ),
    ],
    passed="Open and close by time, the session's bars only, the closing auction included: etl.aggregate_daily's "
    "rule, and the official daily bar's.",
)

# Consistent bars (two on the rules' edges: no trade, volume 0, and open = high = low = close),
# and one of each fault, each breaking one rule only: close above high, open below low, open
# above high, close below low, low above high, negative volume.
QUALITY = """
CREATE TABLE etl_bars (symbol text, bar_time timestamptz, open numeric(18,4), high numeric(18,4),
    low numeric(18,4), close numeric(18,4), volume bigint);
INSERT INTO etl_bars VALUES
    ('ACME',  '2025-11-26 09:30-05', 10.10, 10.30, 10.00, 10.20, 1000),
    ('ACME',  '2025-11-26 09:35-05', 10.20, 10.30, 10.10, 10.40,  800),
    ('GLOBX', '2025-11-26 09:30-05', 39.00, 40.50, 39.50, 40.00,  500),
    ('ACME',  '2025-11-26 09:40-05', 10.40, 10.50, 10.30, 10.45,  700),
    ('ACME',  '2025-11-26 09:50-05', 10.40, 10.50, 10.30, 10.20,  300),
    ('GLOBX', '2025-11-26 09:35-05', 40.00, 40.10, 40.20, 40.10,  400),
    ('ACME',  '2025-11-26 09:45-05', 10.60, 10.50, 10.30, 10.45,  600),
    ('GLOBX', '2025-11-26 09:40-05', 40.10, 40.20, 40.00, 40.15,  -50),
    ('GLOBX', '2025-11-26 09:45-05', 40.15, 40.15, 40.15, 40.15,    0),
    ('ACME',  '2025-11-26 09:55-05', 10.20, 10.20, 10.20, 10.20,    0);
"""

catalog.sql_query(
    "bad_bars",
    fixture=QUALITY,
    blank_hint="A bar is consistent when low <= open <= high, low <= close <= high and volume >= 0. Return "
    "symbol and bar_time of every bar that breaks any of these, ordered by symbol, bar_time.",
    wrong=[
        Wrong(
            "%%sql --save bad_bars\n"
            "SELECT symbol, bar_time FROM etl_bars\n"
            "WHERE close > high OR close < low\nORDER BY symbol, bar_time\n",
            "Only the close is checked: an open outside [low, high], a low above the high and a negative "
            "volume are faults too (the raw table's CHECK constraints refuse all of them).",
        ),
        Wrong(
            "%%sql --save bad_bars\n"
            "SELECT symbol, bar_time FROM etl_bars\n"
            "WHERE open NOT BETWEEN low AND high OR close NOT BETWEEN low AND high\nORDER BY symbol, bar_time\n",
            "Prices are checked, volume is not: a negative volume is a fault too (volume >= 0).",
        ),
    ],
    passed="Every rule a bar must keep, checked in one query — the same rules etl.raw_intraday's CHECK "
    "constraints enforce, so a bad answer is refused whole before it is stored.",
)
