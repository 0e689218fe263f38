"""00_start_here: the warm-up exercise (a query on the sample prices)."""

from fdelib.practice import Catalog, Wrong

catalog = Catalog("00_start_here.ipynb")

# A known copy of the lesson's table, built so that the plausible mistakes give different
# rows: each symbol's highest close is not its last one, the rows are not stored in date
# order, and ZETA's last session is not the table's last day.
PRICES = """
CREATE TABLE start_here_prices (
    symbol text NOT NULL, day date NOT NULL, close numeric(12,2) NOT NULL,
    PRIMARY KEY (symbol, day));
INSERT INTO start_here_prices VALUES
    ('ACME',  '2026-01-06', 100.10), ('ACME',  '2026-01-02', 101.50), ('ACME', '2026-01-05', 99.80),
    ('GLOBX', '2026-01-05',  41.25), ('GLOBX', '2026-01-06',  40.75), ('GLOBX', '2026-01-02', 40.00),
    ('ZETA',  '2026-01-05',  12.00), ('ZETA',  '2026-01-02',  12.40);
"""

catalog.sql_query(
    "latest_close",
    fixture=PRICES,
    blank_hint="Write a SELECT on start_here_prices under the cell's first line (keep "
    "`%%sql --save latest_close`), run that cell, then run this check. Start by "
    "looking at the rows: SELECT symbol, day, close FROM start_here_prices "
    "ORDER BY symbol, day.",
    hint_levels=[
        "One row per symbol: the row whose day is that symbol's latest. Find that row first, "
        "then take its close from it (not a separate aggregate of the closes).",
        "PostgreSQL's DISTINCT ON (symbol) keeps the first row of each symbol in the ORDER BY "
        "order: sort so that a symbol's newest day comes first.",
    ],
    wrong=[
        Wrong(
            "%%sql --save latest_close\n"
            "SELECT symbol, max(day) AS day, max(close) AS close\n"
            "FROM start_here_prices\nGROUP BY symbol\nORDER BY symbol\n",
            "max(close) is each symbol's highest close, not its last one: the close must "
            "come from the row with the symbol's latest day (DISTINCT ON (symbol) ... "
            "ORDER BY symbol, day DESC, or a window function).",
        ),
        Wrong(
            "%%sql --save latest_close\n"
            "SELECT DISTINCT ON (symbol) symbol, day, close\n"
            "FROM start_here_prices\nORDER BY symbol, day\n",
            "That is each symbol's first close: DISTINCT ON keeps the first row of each "
            "symbol in ORDER BY order, so sort the days newest first (day DESC).",
        ),
        Wrong(
            "%%sql --save latest_close\n"
            "SELECT symbol, day, close\nFROM start_here_prices\n"
            "WHERE day = (SELECT max(day) FROM start_here_prices)\nORDER BY symbol\n",
            "The table's last day is not every symbol's last day: a symbol that did not "
            "trade that day disappears. Take the latest day within each symbol.",
        ),
    ],
    passed="Each symbol's close on its own latest day. 03_etl takes a daily bar's close the "
    "same way: the last bar by time, never the highest price.",
)
