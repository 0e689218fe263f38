"""Many clients moving money at once: isolation, locks, retries, and proof nothing was lost.

* :func:`plan` makes a seeded list of transfers, each with its own reference (the request
  id: the database books a reference at most once).
* :func:`run` sends them from ``workers`` threads, each with its own connection as the
  application role, at a chosen isolation level. A serialization failure (SQLSTATE 40001)
  or a deadlock (40P01) means "your transaction lost a race, nothing was applied": the
  worker rolls back, waits a little (exponential backoff with jitter) and tries again. Any
  other error is the database refusing the transfer by a rule, reported as such.
* :func:`verify` checks the invariants afterwards: Σ balances unchanged, no balance below
  its customer's minimum, the ledger explains every balance, and every attempted transfer
  is in the ledger exactly once if it was reported booked and not at all if refused.
* :func:`lost_update` and :func:`serialization_failure` replay, step by step on two
  connections, the two races that isolation and locking are about (deterministic).
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import re
import threading
import time
from decimal import Decimal

import numpy as np
import pandas as pd
import psycopg2
import psycopg2.errors as pgerr
import sqlalchemy as sa

from .. import db
from ..errors import FdeError
from .ddl import OWNER_ROLE, app_engine, owner_engine, raw_connect
from .ops import amount as ops_amount
from .ops import total_money

ISOLATION = {
    "READ COMMITTED": psycopg2.extensions.ISOLATION_LEVEL_READ_COMMITTED,
    "REPEATABLE READ": psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ,
    "SERIALIZABLE": psycopg2.extensions.ISOLATION_LEVEL_SERIALIZABLE,
}
RETRYABLE = (pgerr.SerializationFailure, pgerr.DeadlockDetected)


@dataclasses.dataclass
class RunResult:
    outcomes: pd.DataFrame  # one row per planned transfer
    isolation: str
    workers: int
    seconds: float  # wall time of the run (for benchmarks, never for notebooks)

    @property
    def retries(self) -> int:
        return int(self.outcomes["retries"].sum())

    def per_second(self) -> float:
        return len(self.outcomes) / self.seconds if self.seconds else float("nan")


def hot_accounts(engine: sa.Engine, count: int, seed: int) -> np.ndarray:
    """``count`` accounts chosen by seed: the fewer, the more the transfers collide."""
    ids = db.read_frame("SELECT account_id FROM bank.accounts ORDER BY account_id", engine=engine)[
        "account_id"
    ].to_numpy()
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(ids, min(count, len(ids)), replace=False))


# Hostile requests mixed into a plan: amounts that are not money. Each must be refused by the
# database itself (the storm sends them with psycopg2 directly, past fdelib's own check,
# ops.amount). A float is sent with an explicit ::numeric cast -- the form that reaches the
# operation (a bare float parameter matches no operation at all).
HOSTILE_AMOUNTS = {
    "NaN (Decimal)": Decimal("NaN"),
    "NaN (text)": "NaN",
    "NaN (float)": float("nan"),
    "Infinity (Decimal)": Decimal("Infinity"),  # psycopg2 sends it as 'NaN'::numeric
    "Infinity (text)": "Infinity",
    "-Infinity (text)": "-Infinity",
    "Infinity (float)": float("inf"),
}
# ... and requests that state their own booking time, in the signature the operations had
# before the database owned the clock: backdated by 30 days, or at 'infinity'.
HOSTILE_TIMES = {
    "backdated": "now() - interval '30 days'",
    "at 'infinity'": "'infinity'::timestamptz",
}
HOSTILE = tuple(HOSTILE_AMOUNTS) + tuple(HOSTILE_TIMES)


def plan(
    engine: sa.Engine, transfers: int, seed: int, accounts: int = 40, prefix: str = "conc", hostile: float = 0.0
) -> pd.DataFrame:
    """``transfers`` seeded transfers among ``accounts`` hot accounts (a few too big to pass).

    With ``hostile`` > 0, that share of the requests is replaced by hostile ones (column
    ``hostile`` names the kind, from :data:`HOSTILE`): a deposit, withdrawal or transfer of an
    amount that is not money. Every one of them must be refused.
    """
    hot = hot_accounts(engine, accounts, seed)
    if len(hot) < 2:
        raise FdeError("a concurrency plan needs at least two accounts; populate a bigger bank")
    if not 0 <= hostile <= 1:
        raise FdeError(f"hostile is a share of the requests, between 0 and 1; got {hostile}")
    rng = np.random.default_rng(seed + 1)
    source = rng.choice(hot, transfers)
    shift = rng.integers(1, len(hot), transfers)
    target = hot[(np.searchsorted(hot, source) + shift) % len(hot)]
    amount = np.round(np.exp(rng.normal(4.0, 1.2, transfers)), 2).clip(0.01, 50_000)
    work = pd.DataFrame(
        {
            "reference": [f"{prefix}-{seed}-{i:06d}" for i in range(transfers)],
            "operation": "transfer",
            "source": source,
            "target": target,
            "amount": amount.astype(object),
            "hostile": "",
        }
    )
    bad = np.flatnonzero(rng.random(transfers) < hostile)
    kinds = [HOSTILE[k] for k in rng.choice(len(HOSTILE), len(bad))]
    work.loc[bad, "hostile"] = kinds
    work.loc[bad, "operation"] = rng.choice(["transfer", "deposit", "withdraw"], len(bad))
    work.loc[bad, "amount"] = pd.Series(
        [HOSTILE_AMOUNTS.get(k, work.at[i, "amount"]) for i, k in zip(bad, kinds, strict=False)],
        index=bad,
        dtype=object,
    )
    return work


def run(
    engine: sa.Engine,
    transfers: pd.DataFrame,
    *,
    workers: int = 8,
    isolation: str = "READ COMMITTED",
    max_attempts: int = 200,
) -> RunResult:
    """Send ``transfers`` from ``workers`` threads at once; return every outcome."""
    if isolation not in ISOLATION:
        raise FdeError(f"isolation must be one of {sorted(ISOLATION)}, got {isolation!r}")
    transfers = transfers.assign(**{c: transfers.get(c, d) for c, d in (("operation", "transfer"), ("hostile", ""))})
    app = app_engine(engine)
    shares = [transfers.iloc[w::workers] for w in range(workers)]
    results: list[list[dict]] = [[] for _ in range(workers)]
    start = threading.Barrier(workers + 1)

    def work(index: int) -> None:
        try:
            conn = raw_connect(app)
            conn.set_session(isolation_level=ISOLATION[isolation])
        except BaseException:
            start.abort()  # release everyone: the run fails below, loudly
            raise
        rng = random.Random(index)  # jitter only: never decides what is booked
        try:
            start.wait()
            for row in shares[index].itertuples(index=False):
                results[index].append(_send(conn, row, rng, max_attempts) | {"worker": index})
        finally:
            conn.close()

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(workers)]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    outcomes = pd.DataFrame([r for rs in results for r in rs])
    if len(outcomes) != len(transfers):
        raise RuntimeError(f"{len(transfers) - len(outcomes)} transfers have no outcome (a worker thread died)")
    outcomes = outcomes.sort_values("reference", kind="stable").reset_index(drop=True)
    return RunResult(outcomes, isolation, workers, seconds)


def _request(row) -> tuple[str, tuple]:
    """The SQL and arguments of one planned request, hostile or not."""
    value = row.amount if row.hostile in HOSTILE_AMOUNTS else ops_amount(row.amount)
    cast = "::numeric" if isinstance(value, float) else ""
    at = f", {HOSTILE_TIMES[row.hostile]}" if row.hostile in HOSTILE_TIMES else ""
    if row.operation == "transfer":
        return (
            f"SELECT bank.transfer(%s, %s, %s{cast}{at}, %s)",
            (int(row.source), int(row.target), value, row.reference),
        )
    if row.operation not in ("deposit", "withdraw"):
        raise FdeError(f"unknown operation {row.operation!r} in a concurrency plan")
    return f"SELECT bank.{row.operation}(%s, %s{cast}{at}, %s)", (int(row.source), value, row.reference)


def _send(conn, row, rng: random.Random, max_attempts: int) -> dict:
    """One request, retried on serialization failure or deadlock, with its outcome."""
    retries = {"serialization": 0, "deadlock": 0}
    statement, args = _request(row)
    for attempt in range(max_attempts):
        try:
            with conn.cursor() as cur:
                cur.execute(statement, args)
                booked = cur.fetchone()[0]
            conn.commit()
            return _outcome(row, "booked", booked, retries)
        except RETRYABLE as exc:
            conn.rollback()
            retries["deadlock" if isinstance(exc, pgerr.DeadlockDetected) else "serialization"] += 1
            time.sleep(rng.uniform(0, min(0.05, 0.001 * 2**attempt)))
        except psycopg2.Error as exc:
            conn.rollback()
            # a rule refusing a request is an answer; a hostile request may also be refused
            # before any rule runs (no operation takes its arguments: class 42)
            classes = ("23", "22", "P0", "55") + (("42",) if row.hostile else ())
            if exc.pgcode and exc.pgcode[:2] in classes:
                return _outcome(row, "refused", None, retries, exc)
            return _outcome(row, "error", None, retries, exc)
    return _outcome(row, "gave up", None, retries)


def reason(exc: psycopg2.Error) -> str:
    """Why the database refused, in a few words: the error class and the rule it names (or the
    start of its message, without the values)."""
    diag = exc.diag
    if exc.pgcode == "42883":  # undefined_function
        return "UndefinedFunction: no operation takes a booking time"
    said = diag.constraint_name or re.split(r",? got |:|\(", diag.message_primary or "")[0].strip()
    return f"{type(exc).__name__}: {said}"


def _outcome(row, status: str, booked, retries: dict, exc: psycopg2.Error | None = None) -> dict:
    return {
        "reference": row.reference,
        "operation": row.operation,
        "hostile": row.hostile,
        "status": status,
        "booked": booked,
        "sqlstate": exc.pgcode if exc is not None else None,
        "reason": reason(exc) if exc is not None else None,
        "retries": retries["serialization"] + retries["deadlock"],
        "serialization_retries": retries["serialization"],
        "deadlock_retries": retries["deadlock"],
    }


OUT_OF_TIME_ORDER = """SELECT count(*) FROM (
    SELECT booked_at < lag(booked_at) OVER (PARTITION BY account_id ORDER BY transaction_id) AS earlier
    FROM bank.transactions) t WHERE earlier"""
NON_FINITE_STORED = """SELECT
    (SELECT count(*) FROM bank.transactions WHERE amount IN ('NaN', 'Infinity', '-Infinity')
                                              OR balance_after IN ('NaN', 'Infinity', '-Infinity'))
  + (SELECT count(*) FROM bank.accounts WHERE balance IN ('NaN', 'Infinity', '-Infinity'))"""


def verify(engine: sa.Engine, result: RunResult, total_before: Decimal, prefix: str = "conc") -> dict:
    """The invariants after a run, as one row of facts (all must hold)."""
    outcomes = result.outcomes
    ledger = db.read_frame(
        """
        SELECT reference, count(*) FILTER (WHERE kind = 'transfer_out') AS debits,
               count(*) FILTER (WHERE kind = 'transfer_in') AS credits, count(*) AS rows
        FROM bank.transactions WHERE reference LIKE :pattern GROUP BY reference""",
        {"pattern": prefix + "-%"},
        engine=engine,
    ).set_index("reference")
    seen = ledger.reindex(outcomes["reference"]).fillna(0)
    booked = (outcomes["status"] == "booked").to_numpy()
    transfer = (outcomes["operation"] == "transfer").to_numpy()
    rows = seen["rows"].to_numpy()
    exactly_once = np.where(transfer, (seen["debits"].to_numpy() == 1) & (seen["credits"].to_numpy() == 1), rows == 1)
    not_at_all = rows == 0
    lost = int((booked & ~exactly_once).sum() + (~booked & ~not_at_all).sum())
    hostile = (outcomes["hostile"] != "").to_numpy()
    below = db.read_scalar(
        "SELECT count(*) FROM bank.accounts a JOIN bank.customers c "
        "USING (customer_id) WHERE a.balance < c.min_balance",
        engine=engine,
    )
    total_after = total_money(engine)
    return {
        "isolation": result.isolation,
        "workers": result.workers,
        "transfers attempted": len(outcomes),
        "booked or refused by a rule": int(outcomes["status"].isin(["booked", "refused"]).sum()),
        "lost (not exactly once)": lost,
        "errors or gave up": int((~outcomes["status"].isin(["booked", "refused"])).sum()),
        "hostile requests": int(hostile.sum()),
        "hostile requests booked": int((hostile & booked).sum()),
        "Σ balances before": total_before,
        "Σ balances after": total_after,
        "money conserved": total_before == total_after,
        "balances below minimum": int(below),
        "NaN or Infinity stored": int(db.read_scalar(NON_FINITE_STORED, engine=engine)),
        "bookings earlier than the one before": int(db.read_scalar(OUT_OF_TIME_ORDER, engine=engine)),
        "ledger breaks": len(db.read_frame("SELECT * FROM bank.ledger_breaks()", engine=engine)),
    }


def refusals(result: RunResult) -> pd.DataFrame:
    """Refused requests by reason, split into ordinary and hostile ones."""
    refused = result.outcomes[result.outcomes["status"] == "refused"]
    table = refused.assign(request=np.where(refused["hostile"] != "", "hostile", "ordinary")).pivot_table(
        index="reason", columns="request", values="reference", aggfunc="count", fill_value=0
    )
    table.columns.name = None
    return table.astype(int)


def storm_report(result: RunResult, facts: dict) -> str:
    """The storm's figures as text: requests, booked, refused by reason, invariants checked."""
    outcomes = result.outcomes
    hostile = outcomes[outcomes["hostile"] != ""]
    kinds = ", ".join(f"{k} {v}" for k, v in hostile["hostile"].value_counts().sort_index().items())
    lines = [
        f"storm: {len(outcomes):,} requests from {result.workers} clients at {result.isolation} "
        f"({len(hostile):,} hostile: {kinds})",
        f"  booked  {int((outcomes['status'] == 'booked').sum()):,}",
        f"  refused {int((outcomes['status'] == 'refused').sum()):,}, by reason:",
    ]
    for why, row in refusals(result).iterrows():
        lines.append(f"    {why:<72} " + ", ".join(f"{k} {v:,}" for k, v in row.items() if v))
    lines.append(
        f"  retries {result.retries:,} (serialization {int(outcomes['serialization_retries'].sum()):,}, "
        f"deadlock {int(outcomes['deadlock_retries'].sum()):,})"
    )
    checks = {
        "every request booked or refused by a rule": facts["errors or gave up"] == 0,
        "no hostile request booked": facts["hostile requests booked"] == 0,
        "each booked request in the ledger exactly once, each refused one not at all": facts["lost (not exactly once)"]
        == 0,
        "Σ balances unchanged": facts["money conserved"],
        "no balance below its customer's minimum": facts["balances below minimum"] == 0,
        "no NaN or Infinity stored": facts["NaN or Infinity stored"] == 0,
        "every account's bookings in time order": facts["bookings earlier than the one before"] == 0,
        "bank.ledger_breaks() empty": facts["ledger breaks"] == 0,
    }
    lines.append(f"  invariants checked: {sum(checks.values())} of {len(checks)} hold")
    lines += [f"    [{'ok' if ok else 'BROKEN'}] {name}" for name, ok in checks.items()]
    return "\n".join(lines)


def stress(
    engine: sa.Engine,
    *,
    transfers: int,
    workers: int,
    seed: int,
    isolations=("READ COMMITTED", "SERIALIZABLE"),
    accounts: int = 40,
    hostile: float = 0.0,
) -> pd.DataFrame:
    """The same kind of workload at each isolation level (``hostile``: the share of hostile
    requests mixed in, see :func:`plan`); the invariants per level."""
    rows = []
    for number, isolation in enumerate(isolations):
        prefix = f"stress{number}"
        work = plan(engine, transfers, seed + number, accounts, prefix=prefix, hostile=hostile)
        before = total_money(engine)
        result = run(engine, work, workers=workers, isolation=isolation)
        rows.append(verify(engine, result, before, prefix=prefix))
    return pd.DataFrame(rows).set_index("isolation")


def drain_race(
    engine: sa.Engine, *, workers: int = 8, attempts: int = 16, seed: int = 42, prefix: str = "drain"
) -> pd.DataFrame:
    """``attempts`` transfers of one fifth of an account's headroom, all at once.

    Whatever the interleaving, exactly five can be booked: the sixth would take the
    balance below the customer's minimum, and the database refuses it.
    """
    source = db.read_frame(
        """
        SELECT a.account_id, a.balance, c.min_balance FROM bank.accounts a
        JOIN bank.customers c USING (customer_id)
        WHERE a.balance - c.min_balance >= 100 ORDER BY a.account_id LIMIT 1""",
        engine=engine,
    )
    account = int(source["account_id"].iloc[0])
    with engine.connect() as conn:
        headroom = conn.execute(
            sa.text(
                "SELECT a.balance - c.min_balance FROM bank.accounts a JOIN bank.customers c "
                "USING (customer_id) WHERE account_id = :a"
            ),
            {"a": account},
        ).scalar_one()
    amount = (headroom / 5).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
    targets = [int(t) for t in hot_accounts(engine, attempts + 1, seed) if t != account][:attempts]
    work = pd.DataFrame(
        {
            "reference": [f"{prefix}-{i:03d}" for i in range(attempts)],
            "source": account,
            "target": targets,
            "amount": float(amount),
        }
    )
    before = total_money(engine)
    result = run(engine, work, workers=workers)
    facts = verify(engine, result, before, prefix=prefix)
    after = db.read_scalar(
        "SELECT a.balance - c.min_balance FROM bank.accounts a JOIN "
        "bank.customers c USING (customer_id) WHERE account_id = :a",
        {"a": account},
        engine=engine,
    )
    return pd.DataFrame(
        {
            "value": {
                "headroom before (balance - minimum)": headroom,
                "amount of each transfer": amount,
                "transfers attempted at once": attempts,
                "booked": int((result.outcomes["status"] == "booked").sum()),
                "refused (would break the minimum)": int((result.outcomes["sqlstate"] == "23514").sum()),
                "headroom after": after,
                "lost": facts["lost (not exactly once)"],
                "money conserved": facts["money conserved"],
            }
        }
    )


# --- two races, replayed step by step on two connections --------------------------------


def _two_sessions(engine: sa.Engine, isolation: str, role: str | None = None):
    a, b = raw_connect(engine, role=role), raw_connect(engine, role=role)
    for conn in (a, b):
        conn.set_session(isolation_level=ISOLATION[isolation])
    return a, b


def _scalar(conn, sql: str, params=()):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


def lost_update(engine: sa.Engine) -> pd.DataFrame:
    """A naive client (read the balance, compute in Python, write it back) racing another.

    Run as the bank's owner (the application role could not even try). Session B writes a balance
    computed from a stale read; the ledger-chain rule notices that its row does not follow
    from the previous one and refuses, so A's withdrawal is not silently overwritten.
    """
    account = _free_account(engine)
    steps = []
    a, b = _two_sessions(owner_engine(engine), "READ COMMITTED", role=OWNER_ROLE)
    try:
        read = "SELECT balance FROM bank.accounts WHERE account_id = %s"
        balance_a = _scalar(a, read, (account,))
        steps.append(("A", "reads the balance", f"{balance_a}"))
        balance_b = _scalar(b, read, (account,))
        steps.append(("B", "reads the balance", f"{balance_b}"))
        _naive_withdraw(a, account, balance_a, Decimal("100.00"))
        a.commit()
        steps.append(("A", "writes balance - 100.00 with its ledger row, commits", f"{balance_a - 100}"))
        try:
            _naive_withdraw(b, account, balance_b, Decimal("50.00"))
            b.commit()
            steps.append(
                ("B", "writes balance - 50.00 with its ledger row, commits", "accepted: A's withdrawal would be lost!")
            )
        except psycopg2.Error as exc:
            b.rollback()
            steps.append(
                (
                    "B",
                    "writes balance - 50.00 with its ledger row",
                    f"refused: {type(exc).__name__}: {exc.diag.message_primary}",
                )
            )
        steps.append(("-", "balance now", f"{_scalar(a, read, (account,))}"))
        a.rollback()
    finally:
        a.close()
        b.close()
    return pd.DataFrame(steps, columns=["session", "does", "result"])


def _naive_withdraw(conn, account: int, seen: Decimal, amount: Decimal) -> None:
    with conn.cursor() as cur:  # (booked_at: its default, the bank's clock)
        cur.execute("UPDATE bank.accounts SET balance = %s WHERE account_id = %s", (seen - amount, account))
        cur.execute(
            "INSERT INTO bank.transactions (account_id, kind, amount, balance_after) VALUES (%s, 'withdrawal', %s, %s)",
            (account, -amount, seen - amount),
        )


def _free_account(engine: sa.Engine) -> int:
    return int(
        db.read_scalar(
            "SELECT a.account_id FROM bank.accounts a JOIN bank.customers c USING (customer_id) "
            "WHERE a.balance - c.min_balance >= 500 ORDER BY a.account_id LIMIT 1",
            engine=engine,
        )
    )


def serialization_failure(engine: sa.Engine, isolation: str = "REPEATABLE READ") -> pd.DataFrame:
    """Two withdrawals through bank.withdraw at ``isolation``, B's snapshot older than A's commit.

    Under REPEATABLE READ or SERIALIZABLE, B may not act on a row changed since its
    snapshot: it gets SQLSTATE 40001 and retries as a new transaction, which succeeds.
    Under READ COMMITTED, B simply waits for A's row lock and then sees A's result.
    """
    app = app_engine(engine)
    account = _free_account(engine)
    read = "SELECT balance FROM bank.accounts WHERE account_id = %s"
    withdraw = "SELECT bank.withdraw(%s, %s, %s)"
    steps = []
    a, b = _two_sessions(app, isolation)
    try:
        steps.append(("B", f"begins ({isolation}) and reads the balance", f"{_scalar(b, read, (account,))}"))
        _scalar(a, withdraw, (account, Decimal("100.00"), f"serial-{isolation}-a"))
        a.commit()
        steps.append(("A", "withdraws 100.00 and commits", "booked"))
        for attempt in (1, 2):
            try:
                _scalar(b, withdraw, (account, Decimal("50.00"), f"serial-{isolation}-b"))
                b.commit()
                steps.append(("B", f"withdraws 50.00 (attempt {attempt})", "booked"))
                break
            except RETRYABLE as exc:
                b.rollback()
                steps.append(
                    (
                        "B",
                        f"withdraws 50.00 (attempt {attempt})",
                        f"{type(exc).__name__} (SQLSTATE {exc.pgcode}): {exc.diag.message_primary} -> roll back, retry",
                    )
                )
        steps.append(("-", "balance now", f"{_scalar(a, read, (account,))}"))
        a.rollback()
    finally:
        a.close()
        b.close()
    return pd.DataFrame(steps, columns=["session", "does", "result"])


def drain_steps(engine: sa.Engine, prefix: str = "drain") -> pd.DataFrame:
    """The drained account's headroom (balance - the customer's minimum) before the race of
    :func:`drain_race` and after each transfer it booked, in booking order."""
    booked = db.read_frame(
        """
        SELECT t.account_id, t.amount, t.balance_after - c.min_balance AS headroom
        FROM bank.transactions t
        JOIN bank.accounts a USING (account_id) JOIN bank.customers c USING (customer_id)
        WHERE t.kind = 'transfer_out' AND t.reference LIKE :pattern
        ORDER BY t.transaction_id""",
        {"pattern": f"{prefix}-%"},
        engine=engine,
    )
    if booked.empty:
        raise FdeError(f"no transfer of a race named {prefix!r} is booked: run drain_race first")
    start = float(booked["headroom"].iloc[0]) - float(booked["amount"].iloc[0])
    return pd.DataFrame(
        {
            "transfers booked": range(len(booked) + 1),
            "headroom": [round(start, 2), *(round(float(h), 2) for h in booked["headroom"])],
            "account": f"account {int(booked['account_id'].iloc[0])}",
        }
    )


def plot_drain(engine: sa.Engine, prefix: str = "drain") -> None:
    """:func:`drain_steps` drawn: the headroom falls by one transfer at a time and stops at the
    customer's minimum, whichever transfers won the race."""
    from .. import viz

    viz.lines(
        drain_steps(engine, prefix),
        x="transfers booked",
        y="headroom",
        by="account",
        title="The drained account, transfer by transfer",
        ylabel="balance - minimum (USD)",
        hline=(0.0, "the customer's minimum"),
    )
