# ruff: noqa: E501  (answers are written as learners type them, long lines included)
"""Answers the catalogue has never seen: for every exercise, at least two right ones (other
formulations a learner would write) and two wrong ones (plausible mistakes not catalogued).

Test data only, kept out of ``fdelib`` so no catalogue entry can be tuned to it. A SQL answer is
written without its ``%%sql --save ...`` line (the exercise's own is added); a Python answer
that changes the lesson's solution is an :class:`Edit` of it. ``test_alternatives.py`` replays
them all through the real checks, in a kernel, as a learner would run them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from kernel import Variant

from fdelib.practice import exercises


@dataclasses.dataclass(frozen=True)
class Edit:
    """The lesson's solution with each ``(old, new)`` replaced (``old`` must be in it)."""

    changes: tuple[tuple[str, str], ...]

    def apply(self, exercise_id: str) -> str:
        text = exercises.solution(exercise_id)
        for old, new in self.changes:
            assert old in text, f"{exercise_id}: {old!r} is not in the solution"
            text = text.replace(old, new)
        return text


def edit(*changes: tuple[str, str]) -> Edit:
    return Edit(tuple(changes))


def choices(exercise: exercises.Choice) -> dict[str, list[str]]:
    """A multiple-choice item answered as learners do besides the bare letter: the letter in
    lower case with spaces, the option's own words; wrong: another option's words, two
    letters at once, a letter that is not an option."""
    name, options, correct = exercise.name, exercise.options, exercise.correct
    other = next(key for key in options if key != correct)
    return {
        "right": [f"{name} = {f' {correct.lower()} '!r}\n", f"{name} = {options[correct]!r}\n"],
        "wrong": [
            f"{name} = {options[other].upper()!r}\n",
            f"{name} = {f'{correct}, {other}'!r}\n",
            f"{name} = {chr(ord(max(options)) + 1)!r}\n",
        ],
    }


# --- 00_start_here -------------------------------------------------------------------------

START_HERE = {
    "latest_close": {
        "right": [
            "SELECT symbol, day, close\nFROM (SELECT symbol, day, close,\n"
            "             row_number() OVER (PARTITION BY symbol ORDER BY day DESC) AS rn\n"
            "      FROM start_here_prices) AS ranked\nWHERE rn = 1\nORDER BY symbol",
            "SELECT p.symbol, p.day, p.close FROM start_here_prices p\n"
            "WHERE p.day = (SELECT max(q.day) FROM start_here_prices q WHERE q.symbol = p.symbol)\n"
            "ORDER BY p.symbol;",
            "WITH last_day AS (SELECT symbol, max(day) AS day FROM start_here_prices GROUP BY symbol)\n"
            "SELECT p.symbol, p.day, p.close FROM start_here_prices p JOIN last_day USING (symbol, day)\n"
            "ORDER BY 1",
        ],
        "wrong": [
            # the highest close, with its day
            "SELECT DISTINCT ON (symbol) symbol, day, close FROM start_here_prices ORDER BY symbol, close DESC",
            # a join on the day only: another symbol's last day matches too
            "SELECT p.symbol, p.day, p.close FROM start_here_prices p\n"
            "JOIN (SELECT symbol, max(day) AS d FROM start_here_prices GROUP BY symbol) m ON p.day = m.d\n"
            "ORDER BY p.symbol",
            # newest symbol first
            "SELECT DISTINCT ON (symbol) symbol, day, close FROM start_here_prices ORDER BY symbol DESC, day DESC",
        ],
    },
}

# --- 01_workflows --------------------------------------------------------------------------

DAGS = {
    "eod_levels": {
        "right": [
            # the same DAG, its tasks declared in another order
            edit(
                (
                    '{"load_trades": [], "fetch_prices": [], "fetch_fx": [],',
                    '{"report": ["risk", "pnl"], "pnl": ["value"], "risk": ["value"], "fetch_fx": [],'
                    ' "load_trades": [], "fetch_prices": [],',
                ),
                ('"pnl": ["value"], "risk": ["value"], "report": ["pnl", "risk"]}', "}"),
            ),
            # written by hand, each level in the description's order (a level is a set of tasks)
            'eod_levels = [["load_trades", "fetch_prices", "fetch_fx"], ["positions", "clean_prices"], ["value"],\n'
            '              ["pnl", "risk"], ["report"]]\n',
        ],
        "wrong": [
            # pnl made to wait for risk: one more level
            edit(('"pnl": ["value"]', '"pnl": ["value", "risk"]')),
            # one task per level: the order, not the levels
            'eod_levels = [["load_trades"], ["fetch_prices"], ["fetch_fx"], ["positions"], ["clean_prices"],\n'
            '              ["value"], ["pnl"], ["risk"], ["report"]]\n',
        ],
    },
    "settlement_cycle": {
        "right": [
            'in_cycle = {"reconcile_cash", "post_ledger", "instruct_custodian", "confirm"}\n',
            "import networkx as nx\n\n"
            "graph = nx.DiGraph([('capture_trades', 'enrich_ssi'), ('enrich_ssi', 'confirm'),\n"
            "                    ('reconcile_cash', 'confirm'), ('confirm', 'instruct_custodian'),\n"
            "                    ('instruct_custodian', 'post_ledger'), ('post_ledger', 'reconcile_cash'),\n"
            "                    ('post_ledger', 'report')])\n"
            "in_cycle = set(next(nx.simple_cycles(graph)))\n",
        ],
        "wrong": [
            # the right names, but a list (the question asks for a set)
            'in_cycle = ["confirm", "instruct_custodian", "post_ledger", "reconcile_cash"]\n',
            # the downstream tasks of the loop, not the loop
            'in_cycle = {"confirm", "instruct_custodian", "post_ledger"}\n',
        ],
    },
    "card_payment_alert": {
        "right": [
            # chained with add() instead of >>, the output named in another order
            edit(
                ("card_alert >> validate >> risk >> route", "card_alert.add(validate).add(risk).add(route)"),
            ),
            # the notify step reads the authorisation code from authorize (the same code)
            edit(('auth_code="${capture.output.auth_code}")])', 'auth_code="${authorize.output.auth_code}")])')),
        ],
        "wrong": [
            # the full card number reaches the notification
            edit(('card="${validate_card.output.card}"', 'card="${workflow.input.card_number}"')),
            # the notification before the capture: texted "paid" before the money is captured
            edit(
                (
                    """    step("pay_capture", "capture", payment_id=payment, amount=amount, auth_code="${authorize.output.auth_code}",
         as_of="${workflow.input.as_of}"),
    step("pay_notify_cardholder", "notify", payment_id=payment, amount=amount,
         card="${validate_card.output.card}", auth_code="${capture.output.auth_code}")])""",
                    """    step("pay_notify_cardholder", "notify", payment_id=payment, amount=amount,
         card="${validate_card.output.card}", auth_code="${authorize.output.auth_code}"),
    step("pay_capture", "capture", payment_id=payment, amount=amount, auth_code="${authorize.output.auth_code}",
         as_of="${workflow.input.as_of}")])""",
                ),
            ),
        ],
    },
}

MANAGEMENT = {
    "fixed_retries_60s": {
        "right": [
            "fixed_retries = len(range(7, 61, 7))   # retries at 7, 14, ... 56 s\n",
            "fixed_retries = min(10, 60 // 7)\n",
        ],
        "wrong": [
            "fixed_retries = 60 / 7\n",  # not a whole number of retries
            "fixed_retries = 7\n",  # the first retry forgotten
        ],
    },
    "backoff_retries_60s": {
        "right": [
            "waits = [3 * 2 ** (n - 1) for n in range(1, 11)]\n"
            "import itertools\n"
            "backoff_retries = sum(1 for t in itertools.accumulate(waits) if t <= 60)\n",
            "backoff_retries = 4.0\n",
        ],
        "wrong": [
            # the scale factor read as the base: waits of 3, 9, 27 s
            "import itertools\n"
            "backoff_retries = sum(1 for t in itertools.accumulate(3 * 3 ** n for n in range(10)) if t <= 60)\n",
            "backoff_retries = 10\n",  # retryCount, not the time
        ],
    },
    "feed_watch": {
        "right": [
            # the default case reports on time, the case for "1"... written the other way round is wrong;
            # here: chained with >>, and the SWITCH's cases declared in one call each
            edit(("feed_watch.add(fetch).add(first_try)", "feed_watch >> fetch >> first_try")),
            edit(
                (
                    'first_try.switch_case("1", [on_time]).default_case([late])',
                    'first_try.switch_case("1", [on_time])\nfirst_try.default_case([late])',
                )
            ),
        ],
        "wrong": [
            # rows from the workflow's input (the days asked), not the fetch's output
            edit(('"rows": "${fetch.output.rows}"', '"rows": "${workflow.input.days}"')),
            # the cases swapped: every feed is late unless it failed first
            edit(
                ('switch_case("1", [on_time]).default_case([late])', 'switch_case("1", [late]).default_case([on_time])')
            ),
        ],
    },
    "scaling_makespan": {
        "right": [
            "import math\nmakespan_s = math.ceil(12 / 5) * 0.2\n",
            "makespan_s = 3 * 200 / 1000\n",
        ],
        "wrong": [
            "makespan_s = 12 / 5 * 0.2\n",  # partial waves
            "makespan_s = float(scaling.model([5], tasks=8)['makespan_s'].iloc[0])\n",  # the lesson's 8 tasks
        ],
    },
}

COORDINATION = {
    "anbp_last_answer": {
        "right": [
            "replayed = patterns.timeline(patterns.quote_requests(seed=7, as_of=as_of, latency_ms=30), capacity=3)\n"
            "anbp = replayed[replayed.pattern == 'ANBP']\n"
            "last_answer_ms = anbp.answered_ms.max()\n",
            "replayed = patterns.timeline(patterns.quote_requests(seed=7, as_of=as_of, latency_ms=30), 3)\n"
            "last_answer_ms = int(replayed.query(\"pattern == 'ANBP'\")['answered_ms'].max())\n",
        ],
        "wrong": [
            # the SBP row's last answer
            "replayed = patterns.timeline(patterns.quote_requests(seed=7, as_of=as_of, latency_ms=30), capacity=3)\n"
            "last_answer_ms = float(replayed.loc[replayed['pattern'] == 'SBP', 'answered_ms'].max())\n",
            # capacity 8 (the lesson's earlier service), not 3
            "replayed = patterns.timeline(patterns.quote_requests(seed=7, as_of=as_of, latency_ms=30), capacity=8)\n"
            "last_answer_ms = float(replayed.loc[replayed['pattern'] == 'ANBP', 'answered_ms'].max())\n",
        ],
    },
    "bond_pricing_pattern": {
        "right": ['bond_pattern = "anbp"\n', "bond_pattern = ' ANBP'\n"],
        "wrong": ['bond_pattern = "async blocking"\n', 'bond_pattern = "sync"\n'],
    },
    "bond_pricing_seconds": {
        "right": ["bond_seconds = 200 / 20 * 0.05\n", "bond_seconds = 1 / 2\n"],
        "wrong": [
            "bond_seconds = 200 * 0.05 / 8\n",  # the model's default capacity
            "bond_seconds = 200 / 20\n",  # waves, not seconds
        ],
    },
}

STREAMS = {
    "latest_version_volume": {
        "right": [
            "WITH ranked AS (\n"
            '    SELECT *, row_number() OVER (PARTITION BY trade_id ORDER BY "offset" DESC) AS version\n'
            "    FROM workflows.trade_events)\n"
            "SELECT symbol, date_trunc('minute', event_time) AS minute,\n"
            "       sum(quantity) AS volume, sum(price * quantity) AS notional\n"
            "FROM ranked WHERE version = 1\nGROUP BY 1, 2\nORDER BY 1, 2",
            "SELECT e.symbol, date_trunc('minute', e.event_time) AS minute,\n"
            "       sum(e.quantity) AS volume, sum(e.price * e.quantity) AS notional\n"
            "FROM workflows.trade_events e\n"
            "WHERE NOT EXISTS (SELECT 1 FROM workflows.trade_events n\n"
            '                  WHERE n.trade_id = e.trade_id AND n."offset" > e."offset")\n'
            "GROUP BY e.symbol, minute\nORDER BY e.symbol, minute",
        ],
        "wrong": [
            # notional as the product of the sums
            "SELECT symbol, date_trunc('minute', event_time) AS minute,\n"
            "       sum(quantity) AS volume, sum(price) * sum(quantity) AS notional\n"
            "FROM (SELECT DISTINCT ON (trade_id) * FROM workflows.trade_events\n"
            '      ORDER BY trade_id, "offset" DESC) AS latest\n'
            "GROUP BY symbol, minute\nORDER BY symbol, minute",
            # the newest version by its event time, not its offset
            "SELECT symbol, date_trunc('minute', event_time) AS minute,\n"
            "       sum(quantity) AS volume, sum(price * quantity) AS notional\n"
            "FROM (SELECT DISTINCT ON (trade_id) * FROM workflows.trade_events\n"
            "      ORDER BY trade_id, event_time) AS latest\n"
            "GROUP BY symbol, minute\nORDER BY symbol, minute",
        ],
    },
    "lambda_wrong_window": {
        "right": ['wrong_window = "acme 14:32"\n', 'wrong_window = " ACME 14:32 "\n'],
        "wrong": ['wrong_window = "ACME 14:33"\n', 'wrong_window = "GLOBX 14:32"\n'],
    },
    "replay_reads": {
        "right": ["replay_reads = int(len(events))\n", "replay_reads = events.shape[0]\n"],
        "wrong": ["replay_reads = len(events) - 1\n", "replay_reads = len(events) + 1\n"],
    },
    "concept_watermark": {
        "right": ['closed_window = " 14:33"\n', 'closed_window = f"14:{35 - 1 - 1}"\n'],
        "wrong": ['closed_window = "14:32"\n', 'closed_window = "14:36"\n'],
    },
}

SAGAS = {
    "saga_compensation_order": {
        # settle fails after the pivot (book_trade): it is retried, nothing is compensated
        "right": [
            "compensations = list()\n",
            "compensations = [step for step in ['reserve_cash', 'reserve_securities'] if False]  # none\n",
        ],
        "wrong": [
            'compensations = ["book_trade", "reserve_securities"]\n',
            'compensations = ["reserve_cash"]\n',  # the cash released from a booked trade
        ],
    },
    "saga_release_securities": {
        "right": [
            "from fdelib.workflows import sagas\n\n\ndef release_securities(conn, price, quantity):\n"
            '    sagas.move(conn, "seller", shares_reserved=-quantity, shares=quantity)\n',
            "from fdelib.workflows import sagas\n\n\ndef release_securities(conn, price, quantity):\n"
            '    sagas.move(conn, "seller", shares=quantity)\n'
            '    sagas.move(conn, "seller", shares_reserved=-quantity)\n',
        ],
        "wrong": [
            # both moves the wrong way round: the reservation doubled
            "from fdelib.workflows import sagas\n\n\ndef release_securities(conn, price, quantity):\n"
            '    sagas.move(conn, "seller", shares=-quantity, shares_reserved=quantity)\n',
            # the price times the quantity: shares are counted in shares
            "from fdelib.workflows import sagas\n\n\ndef release_securities(conn, price, quantity):\n"
            '    sagas.move(conn, "seller", shares=price * quantity, shares_reserved=-price * quantity)\n',
        ],
    },
    "saga_state": {
        "right": [
            "def saga_state(events):\n"
            '    if [e for e in events if "_failed" in e]:\n        return "compensated"\n'
            '    return "completed" if "trade_settled" in events else "running"\n',
            "def saga_state(events):\n    state = 'running'\n    for event in events:\n"
            "        if event.endswith('_failed'):\n            return 'compensated'\n"
            "        if event == 'trade_settled':\n            state = 'completed'\n    return state\n",
        ],
        "wrong": [
            # an empty saga crashes
            "def saga_state(events):\n"
            '    if any(e.endswith("_failed") for e in events):\n        return "compensated"\n'
            '    return "completed" if events[-1] == "trade_settled" else "running"\n',
            # a compensation event read as the failure
            "def saga_state(events):\n"
            '    if any(e.startswith("release") or e.endswith("released") for e in events):\n'
            '        return "compensated"\n'
            '    return "completed" if "trade_settled" in events else "running"\n',
        ],
    },
    "concept_redelivery": {
        "right": ["extra_reserved = 0.0\n", "extra_reserved = 20 * 50 - 20 * 50\n"],
        "wrong": ["extra_reserved = 20 * 50 * 2\n", "extra_reserved = 50\n"],
    },
}

ML = {
    "stale_prices": {
        "right": [
            "import itertools\n\n\ndef stale_run(closes):\n"
            "    return any(len(list(group)) >= 5 for _, group in itertools.groupby(closes))\n",
            "def stale_run(closes):\n    return any(len(set(closes[i:i + 5])) == 1 for i in range(len(closes) - 4))\n",
        ],
        "wrong": [
            # four equal in a row (five closes, four repeats) is not five
            "def stale_run(closes):\n    return any(len(set(closes[i:i + 4])) == 1 for i in range(len(closes) - 3))\n",
            # only the most recent closes
            "def stale_run(closes):\n    return len(closes) >= 5 and len(set(closes[-5:])) == 1\n",
        ],
    },
    "psi_smoothed": {
        "right": [
            "import numpy as np\n\n\ndef psi(expected, actual):\n"
            "    e = np.asarray(expected, dtype=float) + 0.5\n    a = np.asarray(actual, dtype=float) + 0.5\n"
            "    e, a = e / e.sum(), a / a.sum()\n    return float(np.sum((a - e) * np.log(a / e)))\n",
            "import math\n\n\ndef psi(expected, actual):\n"
            "    te, ta = sum(expected) + 0.5 * len(expected), sum(actual) + 0.5 * len(actual)\n"
            "    total = 0.0\n    for x, y in zip(expected, actual):\n"
            "        e, a = (x + 0.5) / te, (y + 0.5) / ta\n        total += (a - e) * math.log(a / e)\n"
            "    return total\n",
        ],
        "wrong": [
            # smoothed, but by one observation
            "import math\n\n\ndef psi(expected, actual):\n"
            "    e = [c + 1 for c in expected]\n    a = [c + 1 for c in actual]\n"
            "    e = [c / sum(e) for c in e]\n    a = [c / sum(a) for c in a]\n"
            "    return sum((x - y) * math.log(x / y) for x, y in zip(a, e))\n",
            # a log in base 10
            "import math\n\n\ndef psi(expected, actual):\n"
            "    e = [c + 0.5 for c in expected]\n    a = [c + 0.5 for c in actual]\n"
            "    e = [c / sum(e) for c in e]\n    a = [c / sum(a) for c in a]\n"
            "    return sum((x - y) * math.log10(x / y) for x, y in zip(a, e))\n",
        ],
    },
    "serving_decision": {
        "right": ["serving = 3.0\n", "serving = int('3')\n"],
        "wrong": ["serving = 1\n", "serving = '3 or 4'\n"],
    },
    "concept_psi_band": {
        "right": ['psi_band = "Watch"\n', "psi_band = 'watch '\n"],
        "wrong": ['psi_band = "drift"\n', 'psi_band = "moderate"\n'],
    },
}

WORKFLOWS = {**DAGS, **MANAGEMENT, **COORDINATION, **STREAMS, **SAGAS, **ML}

# --- 02_bank_db ----------------------------------------------------------------------------

_WITHDRAW = (
    "CREATE FUNCTION withdraw(p_account integer, p_amount numeric) RETURNS numeric\nLANGUAGE plpgsql AS $$\n{body}$$;"
)

BANK = {
    "accounts_closed_empty": {
        "right": [
            "ALTER TABLE accounts ADD CONSTRAINT accounts_closed_empty\n"
            "    CHECK (NOT (closed_on IS NOT NULL AND balance <> 0));",
            "ALTER TABLE accounts\n  ADD CONSTRAINT accounts_closed_empty\n"
            "  CHECK (CASE WHEN closed_on IS NULL THEN true ELSE balance = 0.00 END)",
        ],
        "wrong": [
            # anything under a unit counts as empty
            "ALTER TABLE accounts ADD CONSTRAINT accounts_closed_empty\n"
            "    CHECK (closed_on IS NULL OR balance BETWEEN 0 AND 1)",
            # the rule, under another name than the question's
            "ALTER TABLE accounts ADD CONSTRAINT closed_accounts_are_empty CHECK (closed_on IS NULL OR balance = 0)",
            # a closed account may hold money as long as it is not overdrawn
            "ALTER TABLE accounts ADD CONSTRAINT accounts_closed_empty CHECK (closed_on IS NULL OR balance >= 0)",
        ],
    },
    "closed_empty_proof": {
        "right": [
            "UPDATE accounts SET balance = 5.00 WHERE account_id = 3",
            "INSERT INTO accounts (account_id, balance, opened_on, closed_on)\n"
            "VALUES (4, 50.00, '2025-01-02', '2026-01-02');",
            "UPDATE accounts SET closed_on = opened_on + 1 WHERE account_id = 1",
        ],
        "wrong": [
            # closed with money, but account 1 exists already: the primary key refuses it anyway
            "INSERT INTO accounts VALUES (1, 50.00, '2025-01-02', '2026-01-02')",
            # a faked refusal: the learner's own code raises the constraint's error
            'DO $$ BEGIN RAISE EXCEPTION \'new row for relation "accounts" violates check constraint '
            "\"accounts_closed_empty\"' USING ERRCODE = 'check_violation', CONSTRAINT = 'accounts_closed_empty'; "
            "END $$",
            # no opening date: NOT NULL refuses it first
            "INSERT INTO accounts VALUES (4, 50.00, NULL, '2026-01-02')",
        ],
    },
    "outstanding_audit": {
        "right": [
            "SELECT l.loan_id, l.outstanding,\n"
            "       l.principal + coalesce((SELECT sum(t.amount) FROM transactions t\n"
            "                               WHERE t.loan_id = l.loan_id AND t.kind = 'loan_payment'), 0) AS derived\n"
            "FROM loans l\n"
            "WHERE l.outstanding <> l.principal + coalesce((SELECT sum(t.amount) FROM transactions t\n"
            "                               WHERE t.loan_id = l.loan_id AND t.kind = 'loan_payment'), 0)\n"
            "ORDER BY l.loan_id",
            "WITH paid AS (SELECT loan_id, sum(amount) AS paid FROM transactions\n"
            "              WHERE kind = 'loan_payment' GROUP BY loan_id),\n"
            "     audit AS (SELECT l.loan_id, l.outstanding, l.principal + coalesce(p.paid, 0) AS derived\n"
            "               FROM loans l LEFT JOIN paid p USING (loan_id))\n"
            "SELECT loan_id, outstanding, derived FROM audit WHERE derived IS DISTINCT FROM outstanding\n"
            "ORDER BY loan_id",
        ],
        "wrong": [
            # a loan whose only rows are not payments disappears
            "SELECT l.loan_id, l.outstanding, l.principal + coalesce(sum(t.amount), 0) AS derived\n"
            "FROM loans l LEFT JOIN transactions t ON t.loan_id = l.loan_id\n"
            "WHERE t.kind = 'loan_payment' OR t.kind IS NULL\n"
            "GROUP BY l.loan_id, l.outstanding, l.principal\n"
            "HAVING l.outstanding <> l.principal + coalesce(sum(t.amount), 0)\nORDER BY l.loan_id",
            # the payments subtracted: they are negative already
            "SELECT l.loan_id, l.outstanding, l.principal - coalesce(sum(t.amount), 0) AS derived\n"
            "FROM loans l LEFT JOIN transactions t ON t.loan_id = l.loan_id AND t.kind = 'loan_payment'\n"
            "GROUP BY l.loan_id, l.outstanding, l.principal\n"
            "HAVING l.outstanding <> l.principal - coalesce(sum(t.amount), 0)\nORDER BY l.loan_id",
        ],
    },
    "customer_total_balance": {
        "right": [
            "SELECT customer_id, accounts, total_balance FROM (\n"
            "    SELECT customer_id, count(account_id) AS accounts, sum(balance) AS total_balance,\n"
            "           rank() OVER (ORDER BY sum(balance) DESC, customer_id) AS place\n"
            "    FROM bank.accounts GROUP BY customer_id) AS ranked\n"
            "WHERE place <= 5 ORDER BY place",
            "SELECT a.customer_id, count(*) AS accounts, sum(a.balance) AS total_balance\n"
            "FROM bank.accounts AS a GROUP BY 1 ORDER BY 3 DESC, 1 FETCH FIRST 5 ROWS ONLY;",
        ],
        "wrong": [
            # no tie-break: equal totals in any order
            "SELECT customer_id, count(*) AS accounts, sum(balance) AS total_balance\n"
            "FROM bank.accounts GROUP BY customer_id ORDER BY total_balance DESC LIMIT 5",
            # the open accounts only
            "SELECT customer_id, count(*) AS accounts, sum(balance) AS total_balance\n"
            "FROM bank.accounts WHERE closed_on IS NULL GROUP BY customer_id\n"
            "ORDER BY total_balance DESC, customer_id LIMIT 5",
            # six, not five
            "SELECT customer_id, count(*) AS accounts, sum(balance) AS total_balance\n"
            "FROM bank.accounts GROUP BY customer_id ORDER BY total_balance DESC, customer_id LIMIT 6",
        ],
    },
    "top_outflow_december": {
        "right": [
            "SELECT account_id, sum(-amount) AS outflow FROM bank.transactions\n"
            "WHERE amount < 0 AND booked_at >= timestamptz '2025-12-01 00:00+00'\n"
            "  AND booked_at < timestamptz '2026-01-01 00:00+00'\n"
            "GROUP BY account_id ORDER BY 2 DESC, 1 LIMIT 5",
            "SELECT account_id, abs(sum(amount) FILTER (WHERE amount < 0)) AS outflow\n"
            "FROM bank.transactions\n"
            "WHERE booked_at >= '2025-12-01 00:00+00' AND booked_at < '2026-01-01 00:00+00'\n"
            "GROUP BY account_id HAVING count(*) FILTER (WHERE amount < 0) > 0\n"
            "ORDER BY outflow DESC, account_id LIMIT 5",
        ],
        "wrong": [
            # December 31st left out
            "SELECT account_id, -sum(amount) AS outflow FROM bank.transactions\n"
            "WHERE amount < 0 AND booked_at >= '2025-12-01 00:00+00' AND booked_at < '2025-12-31 00:00+00'\n"
            "GROUP BY account_id ORDER BY outflow DESC, account_id LIMIT 5",
            # the outflow left negative, so the smallest come first
            "SELECT account_id, sum(amount) AS outflow FROM bank.transactions\n"
            "WHERE amount < 0 AND booked_at >= '2025-12-01 00:00+00' AND booked_at < '2026-01-01 00:00+00'\n"
            "GROUP BY account_id ORDER BY outflow DESC, account_id LIMIT 5",
        ],
    },
    "month_interest": {
        "right": [
            "def month_interest(principal, repaid, annual_rate, days):\n"
            "    daily = annual_rate / 365\n    return round((principal - repaid) * daily * days, 2)\n",
            "from decimal import Decimal, ROUND_HALF_EVEN\n\n\n"
            "def month_interest(principal, repaid, annual_rate, days):\n"
            "    owed = Decimal(str(principal)) - Decimal(str(repaid))\n"
            "    interest = owed * Decimal(str(annual_rate)) * days / 365\n"
            "    return float(interest.quantize(Decimal('0.01'), ROUND_HALF_EVEN))\n",
        ],
        "wrong": [
            # hard-coded on the question's example and the first failures it shows
            "def month_interest(principal, repaid, annual_rate, days):\n"
            "    known = {(10000, 2500, 0.06, 31): 38.22, (250000, 0, 0.045, 30): 924.66,\n"
            "             (1200, 200, 0.12, 28): 9.21, (5000, 5000, 0.08, 31): 0.0,\n"
            "             (80000, 12345.67, 0.0725, 29): 389.71}\n"
            "    return known[(principal, repaid, annual_rate, days)]\n",
            # not rounded
            "def month_interest(principal, repaid, annual_rate, days):\n"
            "    return (principal - repaid) * annual_rate * days / 365\n",
            # rounded down to the cent
            "import math\n\n\ndef month_interest(principal, repaid, annual_rate, days):\n"
            "    return math.floor((principal - repaid) * annual_rate * days / 365 * 100) / 100\n",
        ],
    },
    "refusing_constraint": {
        "right": [
            'refused_by = "transactions_counterpart_check "\n',
            "refused_by = 'TRANSACTIONS_COUNTERPART_CHECK'\n",
        ],
        "wrong": ['refused_by = "transactions_kind_check"\n', 'refused_by = "counterpart_check"\n'],
    },
    "ledger_amount_sign": {
        "right": [
            "ALTER TABLE ledger ADD CONSTRAINT ledger_amount_sign CHECK (\n"
            "    (kind IN ('deposit', 'transfer_in') AND amount > 0)\n"
            "    OR (kind IN ('withdrawal', 'transfer_out') AND amount < 0))",
            "ALTER TABLE ledger ADD CONSTRAINT ledger_amount_sign\n"
            "    CHECK (sign(amount) = CASE kind WHEN 'deposit' THEN 1 WHEN 'transfer_in' THEN 1 ELSE -1 END);",
        ],
        "wrong": [
            # zero lets through on both sides
            "ALTER TABLE ledger ADD CONSTRAINT ledger_amount_sign\n"
            "    CHECK (CASE WHEN kind IN ('deposit', 'transfer_in') THEN amount >= 0 ELSE amount <= 0 END)",
            # a transfer out booked positive
            "ALTER TABLE ledger ADD CONSTRAINT ledger_amount_sign\n"
            "    CHECK (CASE WHEN kind IN ('deposit', 'transfer_in', 'transfer_out') THEN amount > 0 "
            "ELSE amount < 0 END)",
        ],
    },
    "ledger_sign_proof": {
        "right": [
            "INSERT INTO ledger (account_id, kind, amount) VALUES (3, 'deposit', -0.01);",
            "INSERT INTO ledger (account_id, kind, amount) VALUES (1, 'transfer_out', 10.00)",
            "INSERT INTO ledger (account_id, kind, amount) VALUES (1, 'deposit', 0)",
        ],
        "wrong": [
            # an account that does not exist: the foreign key refuses the row anyway
            "INSERT INTO ledger (account_id, kind, amount) VALUES (99, 'withdrawal', 25.00)",
            # a faked refusal raised by the learner's own code
            'DO $$ BEGIN RAISE EXCEPTION \'new row for relation "ledger" violates check constraint '
            "\"ledger_amount_sign\"' USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_amount_sign'; END $$",
            # the identity column given a value: refused before the sign is looked at
            "INSERT INTO ledger (entry_id, account_id, kind, amount) VALUES (1, 1, 'withdrawal', 25.00)",
        ],
    },
    "closed_account_trigger": {
        "right": [
            # an AFTER trigger, a clearer message, and a NOT EXISTS written the other way round
            "CREATE FUNCTION ledger_account_open() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            "DECLARE\n    v_closed date;\nBEGIN\n"
            "    SELECT closed_on INTO v_closed FROM accounts WHERE account_id = NEW.account_id;\n"
            "    IF v_closed IS NOT NULL THEN\n"
            "        RAISE EXCEPTION 'no booking on account %: it was closed on %', NEW.account_id, v_closed\n"
            "            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_account_open';\n"
            "    END IF;\n    RETURN NULL;\nEND $$;\n"
            "CREATE TRIGGER ledger_account_open AFTER INSERT ON ledger\n"
            "    FOR EACH ROW EXECUTE FUNCTION ledger_account_open();",
            # the SQLSTATE by its code, and a trigger on INSERT OR UPDATE (stricter, still right)
            "CREATE OR REPLACE FUNCTION ledger_account_open() RETURNS trigger AS $$\nBEGIN\n"
            "    PERFORM 1 FROM accounts WHERE account_id = NEW.account_id AND closed_on IS NOT NULL;\n"
            "    IF FOUND THEN\n        RAISE EXCEPTION USING ERRCODE = '23514', CONSTRAINT = 'ledger_account_open',\n"
            "            MESSAGE = format('account %s is closed', NEW.account_id);\n    END IF;\n"
            "    RETURN NEW;\nEND $$ LANGUAGE plpgsql;\n"
            "CREATE TRIGGER ledger_account_open BEFORE INSERT OR UPDATE ON ledger\n"
            "    FOR EACH ROW EXECUTE FUNCTION ledger_account_open();",
        ],
        "wrong": [
            # once per statement: NEW is not there, and a two-row INSERT is judged by nothing
            "CREATE FUNCTION ledger_account_open() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
            "    IF EXISTS (SELECT 1 FROM accounts a JOIN ledger l USING (account_id)\n"
            "               WHERE a.closed_on IS NOT NULL AND l.entry_id = (SELECT max(entry_id) FROM ledger)) THEN\n"
            "        RAISE EXCEPTION 'account is closed' USING ERRCODE = 'check_violation', "
            "CONSTRAINT = 'ledger_account_open';\n"
            "    END IF;\n    RETURN NULL;\nEND $$;\n"
            "CREATE TRIGGER ledger_account_open AFTER INSERT ON ledger\n"
            "    FOR EACH STATEMENT EXECUTE FUNCTION ledger_account_open();",
            # the name of the constraint is not the one the question asks for
            "CREATE FUNCTION ledger_account_open() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
            "    IF EXISTS (SELECT 1 FROM accounts WHERE account_id = NEW.account_id AND closed_on IS NOT NULL) THEN\n"
            "        RAISE EXCEPTION 'account % is closed', NEW.account_id\n"
            "            USING ERRCODE = 'check_violation', CONSTRAINT = 'account_closed';\n"
            "    END IF;\n    RETURN NEW;\nEND $$;\n"
            "CREATE TRIGGER ledger_account_open BEFORE INSERT ON ledger\n"
            "    FOR EACH ROW EXECUTE FUNCTION ledger_account_open();",
        ],
    },
    "safe_withdraw": {
        "right": [
            # one UPDATE that computes from the current balance, and says so when it cannot
            _WITHDRAW.format(
                body="DECLARE\n    v_new numeric;\nBEGIN\n"
                "    UPDATE accounts SET balance = balance - p_amount\n"
                "    WHERE account_id = p_account AND balance >= p_amount\n    RETURNING balance INTO v_new;\n"
                "    IF NOT FOUND THEN\n        RAISE EXCEPTION 'account %: insufficient funds for %', "
                "p_account, p_amount;\n    END IF;\n    RETURN v_new;\nEND\n"
            ),
            # the row locked first, the comparison the other way round, an error of its own
            _WITHDRAW.format(
                body="DECLARE\n    v_balance numeric;\nBEGIN\n"
                "    SELECT balance INTO STRICT v_balance FROM accounts WHERE account_id = p_account FOR UPDATE;\n"
                "    IF p_amount > v_balance THEN\n"
                "        RAISE EXCEPTION 'insufficient funds' USING ERRCODE = 'P0002';\n    END IF;\n"
                "    UPDATE accounts SET balance = balance - p_amount WHERE account_id = p_account;\n"
                "    RETURN v_balance - p_amount;\nEND\n"
            ),
        ],
        "wrong": [
            # refuses a withdrawal that empties the account exactly
            _WITHDRAW.format(
                body="DECLARE\n    v_balance numeric;\nBEGIN\n"
                "    SELECT balance INTO v_balance FROM accounts WHERE account_id = p_account FOR UPDATE;\n"
                "    IF v_balance - p_amount <= 0 THEN\n        RAISE EXCEPTION 'insufficient funds';\n    END IF;\n"
                "    UPDATE accounts SET balance = v_balance - p_amount WHERE account_id = p_account;\n"
                "    RETURN v_balance - p_amount;\nEND\n"
            ),
            # an overdraft answered with the unchanged balance instead of an error
            _WITHDRAW.format(
                body="DECLARE\n    v_balance numeric;\nBEGIN\n"
                "    SELECT balance INTO v_balance FROM accounts WHERE account_id = p_account FOR UPDATE;\n"
                "    IF v_balance < p_amount THEN\n        RETURN v_balance;\n    END IF;\n"
                "    UPDATE accounts SET balance = v_balance - p_amount WHERE account_id = p_account;\n"
                "    RETURN v_balance - p_amount;\nEND\n"
            ),
        ],
    },
}

# --- 03_etl --------------------------------------------------------------------------------

ETL = {
    "latest_bars": {
        "right": [
            "SELECT symbol, bar_time, close, volume, ingested_at FROM (\n"
            "    SELECT *, row_number() OVER (PARTITION BY symbol, bar_time ORDER BY ingested_at DESC) AS n\n"
            "    FROM etl_raw_bars) AS versions\nWHERE n = 1\nORDER BY symbol, bar_time",
            "SELECT r.symbol, r.bar_time, r.close, r.volume, r.ingested_at FROM etl_raw_bars r\n"
            "WHERE NOT EXISTS (SELECT 1 FROM etl_raw_bars n WHERE n.symbol = r.symbol\n"
            "                  AND n.bar_time = r.bar_time AND n.ingested_at > r.ingested_at)\n"
            "ORDER BY r.symbol, r.bar_time",
        ],
        "wrong": [
            # the version with the largest volume
            "SELECT DISTINCT ON (symbol, bar_time) symbol, bar_time, close, volume, ingested_at\n"
            "FROM etl_raw_bars ORDER BY symbol, bar_time, volume DESC",
            # the smallest close wins (a correction is usually lower? not always)
            "SELECT DISTINCT ON (symbol, bar_time) symbol, bar_time, close, volume, ingested_at\n"
            "FROM etl_raw_bars ORDER BY symbol, bar_time, close",
        ],
    },
    "daily_bars": {
        "right": [
            "SELECT DISTINCT b.symbol, s.session,\n"
            "       first_value(b.open) OVER w AS open,\n"
            "       max(b.high) OVER (PARTITION BY b.symbol, s.session) AS high,\n"
            "       min(b.low) OVER (PARTITION BY b.symbol, s.session) AS low,\n"
            "       last_value(b.close) OVER w AS close,\n"
            "       sum(b.volume) OVER (PARTITION BY b.symbol, s.session) AS volume\n"
            "FROM etl_bars b JOIN etl_sessions s ON b.bar_time BETWEEN s.open AND s.close\n"
            "WINDOW w AS (PARTITION BY b.symbol, s.session ORDER BY b.bar_time\n"
            "             ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)\n"
            "ORDER BY b.symbol, s.session",
            "WITH inside AS (SELECT b.*, s.session FROM etl_bars b JOIN etl_sessions s\n"
            "                ON b.bar_time >= s.open AND b.bar_time <= s.close),\n"
            "     day AS (SELECT symbol, session, min(bar_time) AS first, max(bar_time) AS last,\n"
            "                    max(high) AS high, min(low) AS low, sum(volume) AS volume\n"
            "             FROM inside GROUP BY symbol, session)\n"
            "SELECT d.symbol, d.session, f.open, d.high, d.low, l.close, d.volume\n"
            "FROM day d JOIN inside f ON f.symbol = d.symbol AND f.bar_time = d.first\n"
            "JOIN inside l ON l.symbol = d.symbol AND l.bar_time = d.last\n"
            "ORDER BY d.symbol, d.session",
        ],
        "wrong": [
            # the lowest open, not the first
            "SELECT b.symbol, s.session, min(b.open) AS open, max(b.high) AS high, min(b.low) AS low,\n"
            "       (array_agg(b.close ORDER BY b.bar_time DESC))[1] AS close, sum(b.volume) AS volume\n"
            "FROM etl_bars b JOIN etl_sessions s ON b.bar_time >= s.open AND b.bar_time <= s.close\n"
            "GROUP BY b.symbol, s.session ORDER BY b.symbol, s.session",
            # the opening bar left out
            "SELECT b.symbol, s.session,\n"
            "       (array_agg(b.open ORDER BY b.bar_time))[1] AS open, max(b.high) AS high, min(b.low) AS low,\n"
            "       (array_agg(b.close ORDER BY b.bar_time DESC))[1] AS close, sum(b.volume) AS volume\n"
            "FROM etl_bars b JOIN etl_sessions s ON b.bar_time > s.open AND b.bar_time <= s.close\n"
            "GROUP BY b.symbol, s.session ORDER BY b.symbol, s.session",
        ],
    },
    "bad_bars": {
        "right": [
            "SELECT symbol, bar_time FROM etl_bars\n"
            "WHERE low > open OR open > high OR low > close OR close > high OR volume < 0\n"
            "ORDER BY symbol, bar_time",
            "SELECT symbol, bar_time FROM etl_bars\n"
            "EXCEPT\n"
            "SELECT symbol, bar_time FROM etl_bars\n"
            "WHERE open BETWEEN low AND high AND close BETWEEN low AND high AND volume >= 0\n"
            "ORDER BY 1, 2",
        ],
        "wrong": [
            # two of the four price rules
            "SELECT symbol, bar_time FROM etl_bars\nWHERE close > high OR open < low OR volume < 0\n"
            "ORDER BY symbol, bar_time",
            # a bar without trades is not a bad bar
            "SELECT symbol, bar_time FROM etl_bars\n"
            "WHERE NOT (low <= open AND open <= high AND low <= close AND close <= high AND volume > 0)\n"
            "ORDER BY symbol, bar_time",
        ],
    },
    "to_rows": {
        "right": [
            "def to_rows(payload, interval):\n"
            "    series = payload['Time Series (' + interval + ')']\n    rows = []\n"
            "    for time in sorted(series):\n        bar = series[time]\n"
            "        rows.append((time, float(bar['1. open']), float(bar['2. high']), float(bar['3. low']),\n"
            "                     float(bar['4. close']), int(bar['5. volume'])))\n    return rows\n",
            "def to_rows(payload: dict, interval: str) -> list[tuple]:\n"
            "    series = payload[f'Time Series ({interval})']\n"
            "    return [(t, *(float(v) for v in list(b.values())[:4]), int(b['5. volume']))\n"
            "            for t, b in reversed(list(series.items()))]\n",
        ],
        "wrong": [
            # the volume as a float
            "def to_rows(payload, interval):\n"
            "    series = payload[f'Time Series ({interval})']\n"
            "    return sorted((t, *(float(v) for v in b.values())) for t, b in series.items())\n",
            # lists, not tuples
            "def to_rows(payload, interval):\n"
            "    series = payload[f'Time Series ({interval})']\n"
            "    return sorted([t, float(b['1. open']), float(b['2. high']), float(b['3. low']),\n"
            "                   float(b['4. close']), int(b['5. volume'])] for t, b in series.items())\n",
        ],
    },
}

# --- 04_oms --------------------------------------------------------------------------------

OMS = {
    "revenue_by_sku": {
        "right": [
            "SELECT sku, sum(quantity) AS units, sum(quantity * unit_price) AS revenue\n"
            "FROM oms.order_items\n"
            "WHERE order_id IN (SELECT order_id FROM oms.orders WHERE status = 'COMPLETED')\n"
            "GROUP BY sku ORDER BY 3 DESC, 1",
            "WITH done AS (SELECT order_id FROM oms.orders WHERE status = 'COMPLETED')\n"
            "SELECT i.sku, sum(i.quantity) AS units, sum(i.unit_price * i.quantity) AS revenue\n"
            "FROM done JOIN oms.order_items AS i ON i.order_id = done.order_id\n"
            "GROUP BY i.sku ORDER BY revenue DESC, sku",
        ],
        "wrong": [
            # today's catalogue price, not the price the order was charged
            "SELECT i.sku, sum(i.quantity) AS units, sum(i.quantity * p.price) AS revenue\n"
            "FROM oms.order_items i JOIN oms.orders o USING (order_id) JOIN oms.products p USING (sku)\n"
            "WHERE o.status = 'COMPLETED'\nGROUP BY i.sku ORDER BY revenue DESC, i.sku",
            # every order, cancelled ones too
            "SELECT sku, sum(quantity) AS units, sum(quantity * unit_price) AS revenue\n"
            "FROM oms.order_items GROUP BY sku ORDER BY revenue DESC, sku",
        ],
    },
    "money_kept": {
        "right": [
            "SELECT o.order_id, o.status,\n"
            "       coalesce(sum(CASE p.kind WHEN 'charge' THEN p.amount WHEN 'refund' THEN -p.amount END), 0)"
            "::numeric(12,2) AS money_kept\n"
            "FROM oms.orders o LEFT JOIN oms.payments p ON p.order_id = o.order_id\n"
            "GROUP BY o.order_id, o.status ORDER BY o.order_id",
            "SELECT o.order_id, o.status,\n"
            "       CAST(coalesce((SELECT sum(amount) FROM oms.payments p WHERE p.order_id = o.order_id AND kind = 'charge'), 0)\n"
            "          - coalesce((SELECT sum(amount) FROM oms.payments p WHERE p.order_id = o.order_id AND kind = 'refund'), 0)\n"
            "            AS numeric(12,2)) AS money_kept\n"
            "FROM oms.orders o ORDER BY o.order_id",
        ],
        "wrong": [
            # a declined payment counted as money kept
            "SELECT o.order_id, o.status,\n"
            "       (coalesce(sum(p.amount) FILTER (WHERE p.kind <> 'refund'), 0)\n"
            "        - coalesce(sum(p.amount) FILTER (WHERE p.kind = 'refund'), 0))::numeric(12,2) AS money_kept\n"
            "FROM oms.orders o LEFT JOIN oms.payments p USING (order_id)\n"
            "GROUP BY o.order_id, o.status ORDER BY o.order_id",
            # the orders without payments left out
            "SELECT o.order_id, o.status,\n"
            "       (coalesce(sum(p.amount) FILTER (WHERE p.kind = 'charge'), 0)\n"
            "        - coalesce(sum(p.amount) FILTER (WHERE p.kind = 'refund'), 0))::numeric(12,2) AS money_kept\n"
            "FROM oms.orders o JOIN oms.payments p USING (order_id)\n"
            "GROUP BY o.order_id, o.status ORDER BY o.order_id",
        ],
    },
    "credit_check_task": {
        "right": [
            # the check right after the order is stored, before the received notification
            edit(
                (
                    'steps["replay_check"] >> steps["notify_received"] >> credit_check',
                    'steps["replay_check"] >> credit_check >> steps["notify_received"]',
                )
            ),
            # add() instead of >>, the inputs as a dict
            edit(
                (
                    "credit_check.input_parameters.update(order_id=workflow.ORDER_ID, workflow_id=workflow.WORKFLOW_ID)",
                    'credit_check.input_parameters = {"order_id": workflow.ORDER_ID, "workflow_id": workflow.WORKFLOW_ID}',
                ),
            ),
        ],
        "wrong": [
            # no failure workflow (the question names one)
            edit(
                (
                    "with_credit = with_credit.failure_workflow(workflow.COMPENSATION_WORKFLOW)  "
                    "# (it returns the workflow)",
                    "",
                )
            ),
            # the check after the payment's outcome
            edit(
                (
                    'with_credit >> steps["acknowledge"] >> steps["replay_check"] >> steps["notify_received"]'
                    " >> credit_check\n"
                    'with_credit >> steps["pay_and_book"] >> steps["payment_outcome"]',
                    'with_credit >> steps["acknowledge"] >> steps["replay_check"] >> steps["notify_received"]\n'
                    'with_credit >> steps["pay_and_book"] >> steps["payment_outcome"] >> credit_check',
                )
            ),
        ],
    },
    "large_order_review": {
        "right": [
            # an explicit empty default case
            edit(
                (
                    '"held for manual approval")])',
                    '"held for manual approval")])\nreview.default_case([])',
                )
            ),
            # the SWITCH built with add()
            edit(
                (
                    'with_review >> review >> steps["pay_and_book"] >> steps["payment_outcome"]',
                    'with_review.add(review).add(steps["pay_and_book"]).add(steps["payment_outcome"])',
                )
            ),
        ],
        "wrong": [
            # the case in lower case: the decision is REVIEW
            edit(('review.switch_case("REVIEW"', 'review.switch_case("review"')),
            # the large order terminated as COMPLETED: nothing cancels it
            edit(
                (
                    'WorkflowStatus.FAILED, "held for manual approval"',
                    'WorkflowStatus.COMPLETED, "held for manual approval"',
                )
            ),
        ],
    },
    "refund_compensation": {
        "right": [
            # the order cancelled first, then stock released before the refund
            edit(("my_compensation >> cancel >> refund >> release", "my_compensation >> cancel >> release >> refund")),
            edit(
                (
                    "my_compensation = my_compensation >> cancel >> refund >> release  # (>> returns the workflow)",
                    "my_compensation.add(cancel).add(refund).add(release)",
                )
            ),
        ],
        "wrong": [
            # the money kept: no refund
            edit(("my_compensation >> cancel >> refund >> release", "my_compensation >> cancel >> release")),
            # the refund before the cancellation: refused, the order is still going ahead
            edit(("my_compensation >> cancel >> refund >> release", "my_compensation >> refund >> cancel >> release")),
        ],
    },
    "products_owner": {
        "right": ['products_owner = "Inventory"\n', "products_owner = ' inventory'\n"],
        "wrong": ['products_owner = "payment"\n', 'products_owner = "order acknowledgement"\n'],
    },
}

# --- 05_refdata ----------------------------------------------------------------------------

REFDATA = {
    "lei_check_digits": {
        "right": [
            "def lei_check_digits(body):\n"
            "    digits = ''.join(c if c.isdigit() else str(ord(c.upper()) - 55) for c in body)\n"
            "    return str(98 - int(digits + '00') % 97).zfill(2)\n",
            "def lei_check_digits(body: str) -> str:\n    remainder = 0\n"
            "    for c in body + '00':\n        for d in str(int(c, 36)):\n"
            "            remainder = (remainder * 10 + int(d)) % 97\n"
            "    return '%02d' % (98 - remainder)\n",
        ],
        "wrong": [
            # the digits as a number, not a string
            "def lei_check_digits(body):\n    return 98 - int(''.join(str(int(c, 36)) for c in body) + '00') % 97\n",
            # 97 minus, not 98 minus
            "def lei_check_digits(body):\n"
            "    return f\"{97 - int(''.join(str(int(c, 36)) for c in body) + '00') % 97:02d}\"\n",
        ],
    },
    "isin_check_digit": {
        "right": [
            "def isin_check_digit(body):\n"
            "    digits = [int(d) for c in body for d in str(int(c, 36))]\n"
            "    total = 0\n"
            "    for i, d in enumerate(digits[::-1]):\n"
            "        if i % 2 == 0:\n            d *= 2\n            if d > 9:\n                d -= 9\n"
            "        total += d\n"
            "    return -total % 10\n",
            "def isin_check_digit(body: str) -> int:\n"
            "    digits = ''.join(str(int(c, 36)) for c in body) + '0'\n"
            "    total = sum(int(d) if i % 2 == 0 else sum(divmod(int(d) * 2, 10))\n"
            "                for i, d in enumerate(reversed(digits)))\n"
            "    return (10 - total % 10) % 10\n",
        ],
        "wrong": [
            # the digit as text
            "def isin_check_digit(body):\n"
            "    digits = ''.join(str(int(c, 36)) for c in body)\n    total = 0\n"
            "    for i, d in enumerate(reversed(digits)):\n"
            "        d = int(d) * (2 if i % 2 == 0 else 1)\n        total += d // 10 + d % 10\n"
            "    return str((10 - total % 10) % 10)\n",
            # 10 instead of 0 when the sum is a multiple of ten
            "def isin_check_digit(body):\n"
            "    digits = ''.join(str(int(c, 36)) for c in body)\n    total = 0\n"
            "    for i, d in enumerate(reversed(digits)):\n"
            "        d = int(d) * (2 if i % 2 == 0 else 1)\n        total += d // 10 + d % 10\n"
            "    return 10 - total % 10\n",
        ],
    },
    "issuer_of_isin": {
        "right": [
            "SELECT x.from_id AS isin, x.to_id AS lei, e.legal_name\n"
            "FROM refdata.xref AS x, refdata.entities AS e\n"
            "WHERE x.kind = 'ISIN-LEI' AND x.retired_on IS NULL AND e.lei = x.to_id AND e.valid_to IS NULL\n"
            "ORDER BY 1",
            "WITH links AS (SELECT from_id, to_id FROM refdata.xref WHERE kind = 'ISIN-LEI' AND retired_on IS NULL),\n"
            "     names AS (SELECT lei, legal_name FROM refdata.entities WHERE valid_to IS NULL)\n"
            "SELECT links.from_id AS isin, names.lei, names.legal_name\n"
            "FROM links JOIN names ON names.lei = links.to_id ORDER BY isin",
        ],
        "wrong": [
            # the first legal name, not the current one
            "SELECT DISTINCT ON (x.from_id) x.from_id AS isin, e.lei, e.legal_name\n"
            "FROM refdata.xref x JOIN refdata.entities e ON e.lei = x.to_id\n"
            "WHERE x.kind = 'ISIN-LEI' AND x.retired_on IS NULL\nORDER BY x.from_id, e.valid_from",
            # every kind of link
            "SELECT x.from_id AS isin, e.lei, e.legal_name\n"
            "FROM refdata.xref x JOIN refdata.entities e ON e.lei = x.to_id AND e.valid_to IS NULL\n"
            "WHERE x.retired_on IS NULL ORDER BY isin",
        ],
    },
}

# --- the whole course ----------------------------------------------------------------------

ALTERNATIVES: dict[str, dict[str, list]] = {**START_HERE, **WORKFLOWS, **BANK, **ETL, **OMS, **REFDATA}


def _given(exercise_id: str) -> dict[str, list]:
    exercise = exercises.get(exercise_id)
    given = dict(ALTERNATIVES.get(exercise_id, {}))
    if isinstance(exercise, exercises.Choice) and not given:
        given = choices(exercise)
    return given


def variants(exercise_id: str) -> Iterator[Variant]:
    """The alternatives of an exercise as answer cells: the right ones, then the wrong ones."""
    exercise = exercises.get(exercise_id)
    header = exercise.blank.splitlines()[0] + "\n" if exercise.blank.startswith("%%sql") else ""
    given = _given(exercise_id)
    for right in (True, False):
        for answer in given.get("right" if right else "wrong", []):
            text = answer.apply(exercise_id) if isinstance(answer, Edit) else answer
            if header and not text.startswith("%%"):
                text = header + text.strip() + "\n"
            yield Variant(text, right)


def counted() -> dict[str, tuple[int, int]]:
    """(right, wrong) alternatives per exercise of the course."""
    course = {i for i, e in exercises.load_catalog().items() if not e.notebook.startswith("/")}
    return {i: (len(_given(i).get("right", [])), len(_given(i).get("wrong", []))) for i in sorted(course)}
