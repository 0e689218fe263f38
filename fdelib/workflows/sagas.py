"""The saga pattern: one business transaction across services, undone step by step.

A securities trade touches several services, each with its own data: the buyer's cash is
reserved, the seller's securities are reserved, the trade is booked, then settled. No
single database transaction spans them, so the saga's steps come in three kinds (the names
are Chris Richardson's, *Microservices Patterns*):

* **compensatable** steps (``reserve_cash``, ``reserve_securities``) have a **compensation**
  that undoes them; a failure up to the pivot runs the compensations of the steps already
  done, in reverse order;
* the **pivot** (``book_trade``) is the go/no-go point: once the trade is booked it is a
  commitment to the counterparty, and the saga can only go forward;
* **retriable** steps after it (``settle``) are never undone: they are retried until they
  succeed. A settlement that fails (the seller's securities arrive late) is retried the next
  business day; a seller who never delivers is bought in (the buyer's side buys the securities
  elsewhere at the seller's cost) — never "compensated" by un-booking the trade.

Two ways to coordinate the same saga, on the same PostgreSQL tables:

* **orchestration** (:func:`orchestrate`): one coordinator calls each service in turn and
  decides what to compensate. The saga's state lives in one place (its log).
* **choreography** (:func:`choreograph`): no coordinator. Each service reacts to events on
  a shared log and emits its own; a failure event makes the earlier services compensate.
  The state is spread over the events: to know where a saga is, you replay them.

Every step and every compensation is idempotent (guarded by the saga's step log), so a
retried message can never move money twice. A service refuses its step when the database does —
the buyer's cash or the seller's shares would go below zero (a ``CHECK`` constraint) — and that
refusal is a saga failure like the injected one: what was done is compensated.

The trade is dated: booked on the trade date (``as_of``), settled T+1 (one NYSE business day
later, the US standard since May 2024); the step log records both.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from .. import db, params
from .calendar import settlement_date

SCHEMA = Path(__file__).with_name("sagas.sql")
STEPS = ["reserve_cash", "reserve_securities", "book_trade", "settle"]
PIVOT = "book_trade"  # the go/no-go step: before it compensate, after it retry
RETRIABLE = ("settle",)  # retried after the pivot, never compensated
SETTLE_ATTEMPTS = 3  # a settlement fail is retried the next business day, up to this many attempts


#: The parameters of lesson 5 (05_sagas), checked at its top by :func:`fdelib.params.check`.
PARAMETERS = {
    "as_of": params.Date(),
    "price": params.Integer(1, 100_000),
    "quantity": params.Integer(1, 10_000),
    "fail_at": params.Choice(tuple(STEPS), optional=True),
}


class StepFailed(Exception):
    """A service refused its step (the injected fault)."""


def setup(engine: sa.Engine, cash: int = 10_000, shares: int = 100) -> None:
    """Create the tables (idempotent) and reset the two accounts to their opening state."""
    db.run_sql_file(SCHEMA, engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "TRUNCATE workflows.saga_accounts, workflows.saga_steps, workflows.saga_events RESTART IDENTITY"
        )
        conn.execute(
            sa.text(
                "INSERT INTO workflows.saga_accounts VALUES ('buyer', :cash, 0, 0, 0), ('seller', 0, :shares, 0, 0)"
            ),
            {"cash": cash, "shares": shares},
        )


# --- the services: each step and its compensation, idempotent ----------------------


def _once(conn: sa.Connection, saga: str, step: str, kind: str, detail: str = "") -> bool:
    """Record (saga, step, kind); False if it was already recorded (a retry)."""
    return (
        conn.execute(
            sa.text("""
        INSERT INTO workflows.saga_steps (saga, step, kind, detail) VALUES (:saga, :step, :kind, :detail)
        ON CONFLICT DO NOTHING RETURNING 1
    """),
            {"saga": saga, "step": step, "kind": kind, "detail": detail},
        ).scalar()
        is not None
    )


def _detail(step: str, as_of: str | None, attempt: int = 1) -> str:
    if as_of is None:
        return ""
    if step == "book_trade":
        return f"trade date {as_of}"
    if step == "settle" and attempt == 1:
        return f"settled {settlement_date(as_of)} (T+1)"
    if step == "settle":
        return f"settled {settlement_date(as_of, attempt)} (T+{attempt}: retried after a settlement fail)"
    return ""


def _move(conn: sa.Connection, account: str, **deltas: int) -> None:
    sets = ", ".join(f"{column} = {column} + :{column}" for column in deltas)
    conn.execute(
        sa.text(f"UPDATE workflows.saga_accounts SET {sets} WHERE name = :account"), {"account": account, **deltas}
    )


def do_step(
    engine: sa.Engine,
    saga: str,
    step: str,
    price: int,
    quantity: int,
    fail_at: str | None,
    as_of: str | None = None,
    attempt: int = 1,
) -> None:
    """Run one step in its own transaction; raise :class:`StepFailed` for the fault, or when the
    database refuses the step (not enough cash or shares: nothing of the step is kept). A fault
    at a retriable step (``settle``) fails its first attempt only: a settlement fail is resolved
    by trying again."""
    if step == fail_at and (step not in RETRIABLE or attempt == 1):
        raise StepFailed(f"{step} refused for saga {saga}")
    try:
        with engine.begin() as conn:
            _do(conn, saga, step, price, quantity, as_of, attempt)
    except sa.exc.IntegrityError as error:
        short = "cash" if "cash" in str(error.orig) else "shares" if "shares" in str(error.orig) else "balance"
        raise StepFailed(f"{step} refused for saga {saga}: not enough {short}") from None


def _do(
    conn: sa.Connection, saga: str, step: str, price: int, quantity: int, as_of: str | None, attempt: int = 1
) -> None:
    if not _once(conn, saga, step, "do", _detail(step, as_of, attempt)):
        return
    if step == "reserve_cash":
        _move(conn, "buyer", cash=-price * quantity, cash_reserved=price * quantity)
    elif step == "reserve_securities":
        _move(conn, "seller", shares=-quantity, shares_reserved=quantity)
    elif step == "settle":
        _move(conn, "buyer", cash_reserved=-price * quantity, shares=quantity)
        _move(conn, "seller", shares_reserved=-quantity, cash=price * quantity)
    # book_trade records the trade in the step log only


def move(conn: sa.Connection, account: str, **deltas: int) -> None:
    """Add ``deltas`` to an account's columns (``cash``, ``shares``, ``cash_reserved``,
    ``shares_reserved``) in the caller's transaction; the database refuses a balance below zero."""
    _move(conn, account, **deltas)


def release_cash(conn: sa.Connection, price: int, quantity: int) -> None:
    """Compensation of ``reserve_cash``: the reserved amount goes back to the buyer's cash."""
    move(conn, "buyer", cash=price * quantity, cash_reserved=-price * quantity)


def release_securities(conn: sa.Connection, price: int, quantity: int) -> None:
    """Compensation of ``reserve_securities``: the reserved shares go back to the seller."""
    move(conn, "seller", shares=quantity, shares_reserved=-quantity)


#: Each compensatable step's compensation, ``fn(conn, price, quantity)``. ``book_trade`` is the
#: pivot and ``settle`` is retriable: once the trade is booked nothing is undone.
COMPENSATIONS = {"reserve_cash": release_cash, "reserve_securities": release_securities}


def undo_step(
    engine: sa.Engine, saga: str, step: str, price: int, quantity: int, compensations: dict | None = None
) -> None:
    """Compensate a step that was done (idempotent; a step never done is left alone), in one
    transaction with its undo row in the step log. ``compensations`` overrides entries of
    :data:`COMPENSATIONS` (a compensation of your own, tried on the same saga)."""
    compensate = {**COMPENSATIONS, **(compensations or {})}.get(step)
    with engine.begin() as conn:
        done = conn.execute(
            sa.text("SELECT 1 FROM workflows.saga_steps WHERE saga = :s AND step = :t AND kind = 'do'"),
            {"s": saga, "t": step},
        ).scalar()
        if not done or not _once(conn, saga, step, "undo"):
            return
        if compensate is not None:
            compensate(conn, price, quantity)


# --- orchestration -------------------------------------------------------------------


def orchestrate(
    engine: sa.Engine,
    saga: str,
    price: int,
    quantity: int,
    fail_at: str | None = None,
    as_of: str | None = None,
    compensations: dict | None = None,
) -> dict:
    """The coordinator: run the steps in order; a failure up to the pivot compensates the steps
    done, in reverse (``compensations`` as in :func:`undo_step`); a retriable step after it is
    retried instead (``retries`` counts the extra attempts)."""
    done: list[str] = []
    calls = retries = 0
    for step in STEPS:
        for attempt in range(1, SETTLE_ATTEMPTS + 1 if step in RETRIABLE else 2):
            calls += 1
            try:
                do_step(engine, saga, step, price, quantity, fail_at, as_of, attempt)
                break
            except StepFailed:
                if step in RETRIABLE and attempt < SETTLE_ATTEMPTS:
                    retries += 1
                    continue  # after the pivot: try again, never undo
                if step in RETRIABLE:  # every attempt failed: the trade stays booked, a buy-in follows
                    return {
                        "saga": saga,
                        "outcome": "settlement failed",
                        "failed_step": step,
                        "messages": calls,
                        "retries": retries,
                    }
                for earlier in reversed(done):
                    calls += 1
                    undo_step(engine, saga, earlier, price, quantity, compensations)
                return {
                    "saga": saga,
                    "outcome": "compensated",
                    "failed_step": step,
                    "messages": calls,
                    "retries": retries,
                }
        done.append(step)
    return {"saga": saga, "outcome": "completed", "failed_step": None, "messages": calls, "retries": retries}


def try_compensation(
    engine: sa.Engine, step: str, compensation, price: int = 50, quantity: int = 20, fail_at: str = PIVOT
) -> dict:
    """Run the orchestrated saga on freshly opened accounts with ``compensation`` in place of
    ``step``'s and the fault at ``fail_at``: the outcome and every account's balances after it
    (or the error that stopped it). The accounts are opened afresh again afterwards, so a
    compensation that mints or loses money leaves nothing behind."""
    setup(engine)
    try:
        result = orchestrate(engine, "try-compensation", price, quantity, fail_at, compensations={step: compensation})
        balances = {
            name: {column: int(value) for column, value in row.items()} for name, row in accounts(engine).iterrows()
        }
        return {"outcome": result["outcome"], "accounts": balances}
    except Exception as error:  # a compensation under trial may fail in any way: that is its behaviour
        if isinstance(error, sa.exc.IntegrityError):
            return {"outcome": "refused by the database", "error": str(error.orig).splitlines()[0]}
        return {"outcome": "failed", "error": f"{type(error).__name__}: {error}"}
    finally:
        setup(engine)


# --- choreography --------------------------------------------------------------------

# Which service reacts to which event, and what it emits on success.
REACTS = {
    "trade_requested": "reserve_cash",
    "cash_reserved": "reserve_securities",
    "securities_reserved": "book_trade",
    "trade_booked": "settle",
}
EMITS = {
    "reserve_cash": "cash_reserved",
    "reserve_securities": "securities_reserved",
    "book_trade": "trade_booked",
    "settle": "trade_settled",
}


def _emit(engine: sa.Engine, saga: str, event: str, service: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO workflows.saga_events (saga, event, emitted_by) VALUES (:s, :e, :b)"),
            {"s": saga, "e": event, "b": service},
        )


def choreograph(
    engine: sa.Engine, saga: str, price: int, quantity: int, fail_at: str | None = None, as_of: str | None = None
) -> dict:
    """No coordinator: services react to events until none is left to handle; the settlement
    service retries its own step (emitting ``settle_retried``) instead of failing the saga."""
    _emit(engine, saga, "trade_requested", "client")
    handled = 0
    while True:
        with engine.begin() as conn:
            row = conn.execute(
                sa.text("""
                SELECT id, event FROM workflows.saga_events
                WHERE saga = :s AND NOT handled ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
            """),
                {"s": saga},
            ).first()
            if row is None:
                break
            conn.execute(sa.text("UPDATE workflows.saga_events SET handled = true WHERE id = :i"), {"i": row.id})
        handled += 1
        if row.event in REACTS:
            service = REACTS[row.event]
            attempts = SETTLE_ATTEMPTS if service in RETRIABLE else 1
            for attempt in range(1, attempts + 1):
                try:
                    do_step(engine, saga, service, price, quantity, fail_at, as_of, attempt)
                    _emit(engine, saga, EMITS[service], service)
                    break
                except StepFailed:
                    if attempt < attempts:  # a retriable step retries itself, after the pivot
                        _emit(engine, saga, f"{service}_retried", service)
                    else:
                        _emit(engine, saga, f"{service}_failed", service)
        elif row.event.endswith("_failed") and row.event != "settle_failed":
            # every compensatable service that already did its step listens for failures and
            # undoes it; after the pivot nothing is undone (a settlement that fails every retry
            # is bought in)
            for service in reversed(STEPS[: STEPS.index(PIVOT)]):
                undo_step(engine, saga, service, price, quantity)
    emitted = events(engine, saga)
    failed = emitted.loc[emitted["event"].str.endswith("_failed"), "emitted_by"].tolist()
    return {
        "saga": saga,
        "outcome": {"trade_settled": "completed", "settle_failed": "settlement failed"}.get(
            emitted["event"].iloc[-1], "compensated"
        ),
        "failed_step": failed[0] if failed else None,
        "messages": handled,
    }


# --- looking at it -------------------------------------------------------------------


def accounts(engine: sa.Engine) -> pd.DataFrame:
    return db.read_frame("SELECT * FROM workflows.saga_accounts ORDER BY name", engine=engine).set_index("name")


def compare(engine: sa.Engine, price: int, quantity: int, as_of: str | None = None) -> pd.DataFrame:
    """Both patterns on the same trade, with no fault and with a fault at each step in turn
    (accounts reset before each run): outcome, messages exchanged, and the balances after."""
    rows = []
    for step in [None, *STEPS]:
        for coordinate in (orchestrate, choreograph):
            setup(engine)
            result = coordinate(engine, "S", price, quantity, step, as_of)
            balances = accounts(engine)
            rows.append(
                {
                    "fault at": step or "none",
                    "pattern": coordinate.__name__,
                    "outcome": result["outcome"],
                    "messages": result["messages"],
                    "buyer cash": int(balances.loc["buyer", "cash"]),
                    "seller shares": int(balances.loc["seller", "shares"]),
                    "reserved left": int(balances[["cash_reserved", "shares_reserved"]].to_numpy().sum()),
                }
            )
    return pd.DataFrame(rows).set_index(["fault at", "pattern"])


def steps(engine: sa.Engine, saga: str) -> pd.DataFrame:
    """The saga's own log: what the orchestrator (or anyone) can read in one place."""
    return db.read_frame(
        "SELECT id, step, kind, detail FROM workflows.saga_steps WHERE saga = :s ORDER BY id",
        {"s": saga},
        engine=engine,
    ).set_index("id")


def events(engine: sa.Engine, saga: str) -> pd.DataFrame:
    return db.read_frame(
        "SELECT id, event, emitted_by FROM workflows.saga_events WHERE saga = :s ORDER BY id",
        {"s": saga},
        engine=engine,
    )
