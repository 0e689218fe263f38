import pytest

from fdelib.workflows import sagas

OPENING = {"buyer": {"cash": 10_000, "shares": 0}, "seller": {"cash": 0, "shares": 100}}


def balances(engine) -> dict:
    table = sagas.accounts(engine)
    assert (table[["cash_reserved", "shares_reserved"]] == 0).all().all(), "reservations left over"
    return {name: {"cash": int(row.cash), "shares": int(row.shares)} for name, row in table.iterrows()}


UP_TO_THE_PIVOT = sagas.STEPS[: sagas.STEPS.index(sagas.PIVOT) + 1]
SETTLED = {"buyer": {"cash": 9_000, "shares": 20}, "seller": {"cash": 1_000, "shares": 80}}


@pytest.mark.parametrize("coordinate", [sagas.orchestrate, sagas.choreograph])
@pytest.mark.parametrize("fail_at", UP_TO_THE_PIVOT)
def test_every_failure_up_to_the_pivot_is_fully_compensated(engine, coordinate, fail_at):
    sagas.setup(engine)
    result = coordinate(engine, "S1", 50, 20, fail_at)
    assert result["outcome"] == "compensated"
    assert balances(engine) == OPENING


def test_a_failed_settlement_is_retried_never_compensated(engine):
    """After the pivot (the booked trade) the saga only goes forward: settle is retried."""
    assert sagas.RETRIABLE == ("settle",) and sagas.PIVOT == "book_trade"
    sagas.setup(engine)
    result = sagas.orchestrate(engine, "S1", 50, 20, "settle", as_of="2026-01-02")
    assert (result["outcome"], result["retries"]) == ("completed", 1)
    assert balances(engine) == SETTLED
    log = sagas.steps(engine, "S1")
    assert log["kind"].tolist() == ["do"] * 4  # nothing undone
    assert log["detail"].iloc[-1] == "settled 2026-01-06 (T+2: retried after a settlement fail)"
    sagas.setup(engine)
    assert sagas.choreograph(engine, "C1", 50, 20, "settle")["outcome"] == "completed"
    assert balances(engine) == SETTLED
    emitted = sagas.events(engine, "C1")["event"].tolist()
    assert emitted[-2:] == ["settle_retried", "trade_settled"]
    assert not any(e.endswith("_failed") for e in emitted)


@pytest.mark.parametrize("coordinate", [sagas.orchestrate, sagas.choreograph])
def test_success_moves_cash_and_shares_once(engine, coordinate):
    sagas.setup(engine)
    assert coordinate(engine, "S1", 50, 20)["outcome"] == "completed"
    assert balances(engine) == SETTLED


def test_retried_steps_and_compensations_are_idempotent(engine):
    sagas.setup(engine)
    for _ in range(3):  # a redelivered message runs the step again
        sagas.do_step(engine, "S1", "reserve_cash", 50, 20, None)
    assert sagas.accounts(engine).loc["buyer", "cash"] == 9_000
    for _ in range(3):
        sagas.undo_step(engine, "S1", "reserve_cash", 50, 20)
        sagas.undo_step(engine, "S1", "reserve_securities", 50, 20)  # never done: no-op
    assert balances(engine) == OPENING


def test_orchestrator_log_holds_the_state_choreography_spreads_it(engine):
    sagas.setup(engine)
    sagas.choreograph(engine, "C1", 50, 20, "book_trade")
    emitters = set(sagas.events(engine, "C1")["emitted_by"])
    assert emitters == {"client", "reserve_cash", "reserve_securities", "book_trade"}
    assert sagas.steps(engine, "C1")["kind"].tolist() == ["do", "do", "undo", "undo"]


def test_compare_runs_both_patterns_for_every_fault_and_both_end_consistent(engine):
    table = sagas.compare(engine, 50, 20)
    assert table.index.tolist() == [
        (fault, pattern) for fault in ["none", *sagas.STEPS] for pattern in ("orchestrate", "choreograph")
    ]
    assert (table.loc["none", "outcome"] == "completed").all()
    assert (table.loc["none", "buyer cash"] == 9_000).all()
    failed = table[table.index.get_level_values("fault at").isin(UP_TO_THE_PIVOT)]
    assert (failed["outcome"] == "compensated").all()
    assert (table.loc["settle", "outcome"] == "completed").all()  # retried, not undone
    assert (failed["buyer cash"] == 10_000).all() and (failed["seller shares"] == 100).all()
    assert (table["reserved left"] == 0).all()


@pytest.mark.parametrize("coordinate", [sagas.orchestrate, sagas.choreograph])
@pytest.mark.parametrize("price,quantity,refused", [(600, 20, "reserve_cash"), (50, 200, "reserve_securities")])
def test_a_step_the_database_refuses_is_compensated_like_a_fault(engine, coordinate, price, quantity, refused):
    sagas.setup(engine)
    result = coordinate(engine, "S1", price, quantity)  # more cash or shares than there are
    assert (result["outcome"], result["failed_step"]) == ("compensated", refused)
    assert balances(engine) == OPENING


def test_the_trade_is_booked_on_its_date_and_settles_t_plus_1(engine):
    sagas.setup(engine)
    sagas.orchestrate(engine, "S1", 50, 20, as_of="2026-01-02")  # a Friday
    assert sagas.steps(engine, "S1")["detail"].tolist() == ["", "", "trade date 2026-01-02", "settled 2026-01-05 (T+1)"]


def test_a_compensation_of_your_own_runs_in_the_saga_and_a_wrong_one_shows(engine):
    right = sagas.try_compensation(engine, "reserve_securities", sagas.release_securities)
    assert right["outcome"] == "compensated"
    assert right["accounts"]["seller"] == {"cash": 0, "shares": 100, "cash_reserved": 0, "shares_reserved": 0}
    minted = sagas.try_compensation(
        engine, "reserve_securities", lambda conn, price, quantity: sagas.move(conn, "seller", shares=quantity)
    )
    assert minted["accounts"]["seller"]["shares_reserved"] == 20  # the reservation is left over
    refused = sagas.try_compensation(engine, "reserve_securities", sagas.release_cash)  # cash released twice
    assert refused["outcome"] == "refused by the database"
    assert balances(engine) == OPENING  # and nothing is left behind
