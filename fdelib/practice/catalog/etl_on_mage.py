"""03_etl/02_etl_on_mage: a block's body on test vectors, and where Mage's blocks and Conductor's
tasks differ — neither needs Mage to run."""

from fdelib.practice import Case, Catalog, Raises, Wrong

catalog = Catalog("03_etl/02_etl_on_mage.ipynb")


def _payload(interval: str, bars: dict[str, tuple]) -> dict:
    """An Alpha Vantage intraday answer: strings, newest bar first."""
    fields = ("1. open", "2. high", "3. low", "4. close", "5. volume")
    return {
        "Meta Data": {"2. Symbol": "ACME", "4. Interval": interval, "6. Time Zone": "US/Eastern"},
        f"Time Series ({interval})": {
            t: dict(zip(fields, values, strict=True)) for t, values in sorted(bars.items(), reverse=True)
        },
    }


FIVE = _payload(
    "5min",
    {
        "2025-11-28 09:30:00": ("10.10", "10.30", "10.00", "10.20", "1000"),
        "2025-11-28 09:35:00": ("10.20", "11.00", "10.10", "10.90", "800"),
        "2025-11-28 13:00:00": ("11.00", "11.00", "11.00", "11.00", "4000"),
    },
)
HOURLY = _payload(
    "60min",
    {
        "2025-11-26 15:00:00": ("40.00", "40.50", "39.80", "40.25", "12000"),
        "2025-11-26 16:00:00": ("40.30", "40.30", "40.30", "40.30", "90000"),
    },
)

# never shown to the learner: another interval, a bar without trades
QUARTER = _payload(
    "15min",
    {
        "2025-12-01 09:45:00": ("20.0000", "20.5000", "19.7500", "20.2500", "0"),
        "2025-12-01 09:30:00": ("19.5000", "20.1000", "19.5000", "20.0000", "2500"),
    },
)

BLANK = (
    "def to_rows(payload: dict, interval: str) -> list[tuple]:\n"
    '    """The payload\'s bars as (bar_time, open, high, low, close, volume), oldest first."""\n'
    "    ...\n"
)
RIGHT_LOOP = (
    '    series = payload[f"Time Series ({interval})"]\n'
    '    rows = [(t, float(b["1. open"]), float(b["2. high"]), float(b["3. low"]), float(b["4. close"]),\n'
    '             int(b["5. volume"])) for t, b in series.items()]\n'
)

catalog.function(
    "to_rows",
    name="to_rows",
    cases=[
        Case(
            (FIVE, "5min"),
            [
                ("2025-11-28 09:30:00", 10.1, 10.3, 10.0, 10.2, 1000),
                ("2025-11-28 09:35:00", 10.2, 11.0, 10.1, 10.9, 800),
                ("2025-11-28 13:00:00", 11.0, 11.0, 11.0, 11.0, 4000),
            ],
        ),
        Case(
            (HOURLY, "60min"),
            [
                ("2025-11-26 15:00:00", 40.0, 40.5, 39.8, 40.25, 12000),
                ("2025-11-26 16:00:00", 40.3, 40.3, 40.3, 40.3, 90000),
            ],
        ),
        Case(({"Error Message": "Invalid API call."}, "5min"), Raises(KeyError)),
    ],
    hidden=[
        Case(
            (QUARTER, "15min"),
            [
                ("2025-12-01 09:30:00", 19.5, 20.1, 19.5, 20.0, 2500),
                ("2025-12-01 09:45:00", 20.0, 20.5, 19.75, 20.25, 0),
            ],
        )
    ],
    blank=BLANK,
    blank_hint="Read the series under the key 'Time Series (<interval>)', turn each bar into a tuple (its time, "
    "the four prices as float, the volume as int) and return them sorted by time.",
    wrong=[
        Wrong(
            "def to_rows(payload: dict, interval: str) -> list[tuple]:\n" + RIGHT_LOOP + "    return rows\n",
            "The API sends the newest bar first (look at the payload's keys): sort the rows by time "
            "(sorted(rows)) — the next block takes the first bar's open and the last bar's close.",
        ),
        Wrong(
            "def to_rows(payload: dict, interval: str) -> list[tuple]:\n"
            '    series = payload[f"Time Series ({interval})"]\n'
            "    return sorted((t, *b.values()) for t, b in series.items())\n",
            'The values are strings ("10.10", "1000"): the prices must become float and the volume int, or '
            "the next block compares and adds text.",
        ),
        Wrong(
            "def to_rows(payload: dict, interval: str) -> list[tuple]:\n"
            '    series = payload["Time Series (5min)"]\n'
            '    rows = [(t, float(b["1. open"]), float(b["2. high"]), float(b["3. low"]), float(b["4. close"]),\n'
            '             int(b["5. volume"])) for t, b in series.items()]\n'
            "    return sorted(rows)\n",
            "The series' key names the interval — 'Time Series (60min)' for hourly bars: build it from the "
            "`interval` variable the pipeline passes.",
        ),
    ],
    passed="A block is a plain function of its upstream output and the pipeline's variables: testable on its own, "
    "without Mage — which is why the course's blocks only call fdelib.etl.",
)

catalog.choice(
    "shared_transaction",
    name="shared_transaction",
    options={
        "A": "Conductor has no way to talk to a database",
        "B": "each Conductor task runs in a worker, a separate process that may be on another machine: a "
        "database transaction belongs to one connection of one process",
        "C": "JSON cannot hold a transaction's id",
        "D": "Mage's blocks do not share one either: each block commits its own",
    },
    correct="B",
    hints={
        "A": "Workers are ordinary programs: they can use any database. The question is who holds the "
        "connection that the transaction lives on.",
        "C": "An id would travel fine as JSON — but a transaction is tied to the open connection that began it, "
        "and the next task runs in another process.",
        "D": "Look at blocks.step: here the data loader begins the run's transaction and the last block commits "
        "it — possible because Mage runs the pipeline's blocks in one process.",
    },
    blank_hint="Compare where the steps run: Mage's blocks in Mage's process, Conductor's tasks in workers "
    "(section 'Mage's model and Conductor's').",
    passed="A transaction lives on one connection of one process: in-process blocks can share it, remote workers "
    "cannot — each of their tasks must be idempotent on its own.",
)
