"""02_bank_db/04_concurrency: a withdrawal that is safe under concurrency (checked by two
sessions racing on a scratch copy), the lock order that prevents a deadlock, the isolation
level that prevents write skew.

The withdrawal exercise is a kind of its own, :class:`ConcurrentCalls`: the learner's
``%%sql --save`` script creates a function; the check builds a scratch schema (committed, so
that two sessions see it), creates the function there, then makes two sessions call it at
once in a fixed interleaving — session A calls it and keeps its transaction open, session B
calls it (and, if the function locks, waits), then A commits and B finishes. The results and
the final balance are the behaviour: a read-then-write without a lock shows the lost update as
a balance that only one of the two withdrawals left.
"""

from __future__ import annotations

import dataclasses
import threading
import time

from fdelib.practice import Catalog, Wrong, registry, sandbox, sqlcheck
from fdelib.practice.sqlkinds import SqlQuery

catalog = Catalog("02_bank_db/04_concurrency.ipynb")

ACCOUNTS = """
CREATE TABLE accounts (
    account_id integer PRIMARY KEY,
    balance    numeric(14,2) NOT NULL);
"""

WAIT_FOR_LOCK = 3.0  # s: how long B may run before A commits anyway (B waits on A's lock, or ends)
SESSION_TIMEOUTS = ("SET lock_timeout = '5s'", "SET statement_timeout = '10s'")


@dataclasses.dataclass(frozen=True)
class Race:
    """Two sessions call ``withdraw(account, amount)`` at once from ``balance``."""

    balance: str
    amount: str

    def describe(self) -> str:
        return f"two withdrawals of {self.amount} at once from a balance of {self.balance}"


def _connect(session: sandbox.Session):
    """One more learner session in the check's scratch schema, with the race's timeouts."""
    conn = session.connect()
    with conn.cursor() as cur:
        for statement in SESSION_TIMEOUTS:
            cur.execute(statement)
    conn.commit()
    return conn


def _call(conn, race: Race) -> str:
    """What one call returned ('70.00'), or how it failed."""
    import psycopg2

    try:
        with conn.cursor() as cur:
            cur.execute("SELECT withdraw(1, %s::numeric)", (race.amount,))
            value = cur.fetchone()[0]
        return "no result (NULL)" if value is None else f"{value:.2f}"
    except psycopg2.Error as exc:
        conn.rollback()
        error = sqlcheck.sql_error(exc)
        if error.sqlstate[:2] in ("P0", "23", "22"):  # the function refused the withdrawal
            return "refused"
        return f"failed: {error.message}"


def run_races(script: str, races: tuple[Race, ...], engine=None) -> tuple | sqlcheck.SqlError:
    """Per race, (A's result, B's result, B waited for A, final balance); or why the script
    could not be installed. One scratch schema and one pair of sessions serve every race
    (learner logins, ended with the check: see fdelib.practice.sandbox)."""
    refused = sqlcheck.forbidden(script) or _only_functions(script)
    if refused:
        return refused
    with sandbox.session(engine, prefix="practice_race") as session:
        setup = _connect(session)
        with setup.cursor() as cur:
            cur.execute(ACCOUNTS)
        setup.commit()
        try:
            with setup.cursor() as cur:
                cur.execute(script)
            setup.commit()
        except Exception as exc:  # the learner's script failed: that is an answer too
            setup.rollback()
            return sqlcheck.sql_error(exc)
        sessions = [setup, _connect(session), _connect(session)]
        try:
            results = []
            for race in races:
                with setup.cursor() as cur:
                    cur.execute("DELETE FROM accounts; INSERT INTO accounts VALUES (1, %s::numeric)", (race.balance,))
                setup.commit()
                result = _race(setup, sessions[1], sessions[2], race)
                if isinstance(result, sqlcheck.SqlError):
                    return result
                results.append(result)
            return tuple(results)
        finally:
            for conn in sessions:
                conn.close()


def _race(setup, a, b, race: Race) -> tuple | sqlcheck.SqlError:
    with b.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        b_pid = cur.fetchone()[0]
    b.commit()
    got: dict[str, str] = {}
    first = _call(a, race)  # A's transaction stays open (its locks held)
    thread = threading.Thread(target=lambda: got.update(b=_call(b, race)), daemon=True)
    thread.start()
    waited = _wait_for_lock(setup, b_pid, thread)
    a.commit()
    thread.join(15)
    if thread.is_alive():  # (the session timeouts end it before this)
        return sqlcheck.SqlError("57014", "the second session never finished")
    b.commit()
    with setup.cursor() as cur:
        cur.execute("SELECT balance FROM accounts WHERE account_id = 1")
        balance = f"{cur.fetchone()[0]:.2f}"
    setup.commit()
    return first, got.get("b", "failed"), waited, balance


def _only_functions(script: str) -> sqlcheck.SqlError | None:
    """The script is installed for real (two sessions must see it), so it may only create
    functions, in the scratch schema."""
    import sqlparse

    for statement in sqlparse.split(sqlparse.format(script, strip_comments=True)):
        words = statement.upper().split()
        if words[:2] != ["CREATE", "FUNCTION"] and words[:4] != ["CREATE", "OR", "REPLACE", "FUNCTION"]:
            return sqlcheck.SqlError(
                "00000" if words[:1] == ["SELECT"] else "0A000",
                "the answer must be CREATE FUNCTION withdraw(...) only, got: " + " ".join(statement.split()[:4]),
            )
    return None


def _wait_for_lock(monitor, pid: int, thread: threading.Thread) -> bool:
    """True once session ``pid`` waits for a lock; False if it ended (or ran on) without."""
    deadline = time.monotonic() + WAIT_FOR_LOCK
    while time.monotonic() < deadline and thread.is_alive():
        with monitor.cursor() as cur:
            # (pg_locks is readable by every role; pg_stat_activity hides other users' waits)
            cur.execute("SELECT cardinality(pg_blocking_pids(%s)) > 0", (pid,))
            row = cur.fetchone()
        monitor.commit()
        if row and row[0]:
            return True
        time.sleep(0.005)
    return False


@dataclasses.dataclass
class ConcurrentCalls(SqlQuery):
    """A function checked by two sessions calling it at once (see the module's docstring)."""

    races: tuple[Race, ...] = ()
    cache_expected = True  # (a class attribute: the reference needs no live data)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.kind = "sql-concurrent"

    def behaviour(self, answer):
        return run_races(answer, self.races)

    def expected(self):
        reference = self.reference or sqlcheck.strip_magic(_solution(self.id))
        return self.behaviour(reference)

    def difference(self, got, expected):
        if isinstance(got, sqlcheck.SqlError):
            if got.sqlstate == "00000":  # (the placeholder: no function created)
                return "Your SQL must create the function withdraw(p_account integer, p_amount numeric)."
            return sqlcheck.explain(got)
        if isinstance(expected, sqlcheck.SqlError):
            return "Your SQL ran, but this answer fails."
        for race, mine, theirs in zip(self.races, got, expected, strict=True):
            if (mine[0], mine[1], mine[3]) != (theirs[0], theirs[1], theirs[3]):
                return (
                    f"With {race.describe()}, session A got {mine[0]}, session B {mine[1]}, and the "
                    f"balance is {mine[3]}; expected {theirs[0]}, {theirs[1]} and {theirs[3]}."
                )
        return None

    def same(self, a, b):
        if isinstance(a, sqlcheck.SqlError) or isinstance(b, sqlcheck.SqlError):
            return a == b
        return self.difference(a, b) is None


def _solution(exercise_id: str) -> str:
    return registry.solution(exercise_id)


def _withdraw(body: str, language: str = "plpgsql") -> str:
    return (
        "%%sql --save safe_withdraw --no-execute\n"
        "CREATE FUNCTION withdraw(p_account integer, p_amount numeric) RETURNS numeric\n"
        f"LANGUAGE {language} AS $$\n{body}$$;\n"
    )


NAIVE = _withdraw("""DECLARE
    v_balance numeric;
BEGIN
    SELECT balance INTO v_balance FROM accounts WHERE account_id = p_account;
    IF v_balance - p_amount < 0 THEN
        RAISE EXCEPTION 'insufficient funds';
    END IF;
    UPDATE accounts SET balance = v_balance - p_amount WHERE account_id = p_account;
    RETURN v_balance - p_amount;
END
""")

SILENT = _withdraw(
    """UPDATE accounts SET balance = balance - p_amount
WHERE account_id = p_account AND balance - p_amount >= 0
RETURNING balance;
""",
    language="sql",
)

catalog.add(
    ConcurrentCalls(
        id="safe_withdraw",
        notebook=catalog.notebook,
        blank=(
            "%%sql --save safe_withdraw --no-execute\n"
            "-- CREATE FUNCTION withdraw(p_account integer, p_amount numeric) RETURNS numeric ...\n"
        ),
        blank_hint="Write CREATE FUNCTION withdraw(p_account integer, p_amount numeric) RETURNS numeric "
        "under the cell's first line, run the cell (it saves it), then this check: two sessions "
        "will call your function at once on a scratch copy of accounts.",
        wrong=(
            Wrong(
                NAIVE,
                "A lost update: B read the balance (100.00) before A committed, waited for A's row lock "
                "only at its UPDATE, then wrote its own stale result over A's — one withdrawal of 30.00 "
                "vanished from the balance. Lock the row before reading it (SELECT ... FOR UPDATE), or "
                "let one UPDATE compute from the current balance: SET balance = balance - p_amount.",
            ),
            Wrong(
                SILENT,
                "The concurrent 30.00 withdrawals are right, but the second 60.00 withdrawal is neither "
                "booked nor refused: an UPDATE whose condition fails changes 0 rows and says nothing, so "
                "the function returns NULL and the client thinks it was paid. Raise an exception when no "
                "row was updated (in PL/pgSQL: IF NOT FOUND THEN RAISE EXCEPTION ...).",
            ),
        ),
        passed="Both sessions see each other's withdrawal: B waited for A's row lock and then read (or "
        "recomputed from) the committed balance, and an overdraft is refused, not skipped. "
        "bank.transfer does the same with SELECT ... FOR UPDATE on both accounts.",
        fixture=None,
        races=(Race("100.00", "30.00"), Race("100.00", "60.00"), Race("60.00", "30.00")),
    )
)


# --- a deadlock and its cure (choice) ----------------------------------------------------------

catalog.choice(
    "deadlock_order",
    name="deadlock_fix",
    options={
        "A": "Run both transfers under SERIALIZABLE: it prevents deadlocks.",
        "B": "Lock the two accounts in one global order (lower account_id first), whatever the direction.",
        "C": "Lock the source first, then the target, in every transfer.",
        "D": "Set a lock_timeout, so the database never has to detect the deadlock.",
    },
    correct="B",
    hints={
        "A": "SERIALIZABLE does not change how row locks are taken: two transfers can still each hold "
        "the row the other wants. PostgreSQL then aborts one with 40P01 — it detects the "
        "deadlock, it does not prevent it.",
        "C": "That is exactly how the deadlock happens: 1→2 locks 1 then waits for 2, 2→1 locks 2 then "
        "waits for 1. 'Source first' is a different order for each direction.",
        "D": "A timeout turns the wait into an error a little sooner or later; both transfers still "
        "block each other, and one still fails and must be retried.",
    },
    blank_hint='Assign the letter of the best answer, e.g. deadlock_fix = "A".',
    passed="A deadlock needs a cycle of waits; when every transaction takes its locks in the same "
    "order no cycle can form. bank.transfer locks both accounts ORDER BY account_id.",
)


# --- the isolation level that prevents write skew (choice) ------------------------------------

catalog.choice(
    "write_skew_isolation",
    name="isolation",
    options={
        "A": "READ COMMITTED",
        "B": "REPEATABLE READ",
        "C": "SERIALIZABLE",
        "D": "None: only an explicit lock can prevent it",
    },
    correct="C",
    hints={
        "A": "Under READ COMMITTED each statement sees the data committed when it starts: both "
        "transactions read the two balances before either commits, both pass the check, both "
        "withdraw. Nothing stops them.",
        "B": "REPEATABLE READ (snapshot isolation) refuses a write to a row another transaction "
        "changed; here the two withdrawals change different rows, so both commit: the classic "
        "write skew.",
        "D": "Locks would work (SELECT ... FOR UPDATE on both accounts), but an isolation level does "
        "it too: the one that guarantees the result of some serial order.",
    },
    blank_hint='Assign the letter of the level, e.g. isolation = "A".',
    passed="Only SERIALIZABLE sees that each transaction read what the other one wrote, and aborts "
    "one with 40001 — so, as in section 5, the client must retry it.",
)
