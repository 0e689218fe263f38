"""Many concurrent transfers: money conserved, no balance under its floor, nothing lost."""

import pytest

from fdelib import bank
from fdelib.bank import clock, concurrency, ops

AS_OF = "2026-01-02"
WORKERS = 8
PER_WORKER = 2_000


@pytest.fixture(scope="module")
def busy_bank(engine):
    bank.populate(engine, customers=500, seed=5, as_of=AS_OF)
    return engine


def assert_sound(facts, attempted):
    assert facts["transfers attempted"] == attempted
    assert facts["booked or refused by a rule"] == attempted
    assert facts["errors or gave up"] == 0
    assert facts["lost (not exactly once)"] == 0
    assert facts["Σ balances before"] == facts["Σ balances after"]
    assert facts["balances below minimum"] == 0
    assert facts["ledger breaks"] == 0


def test_the_races_replayed_step_by_step(busy_bank):
    lost = concurrency.lost_update(busy_bank)
    assert lost["result"].iloc[3].startswith("refused: CheckViolation")
    assert "balance_after" in lost["result"].iloc[3]  # the chain rule, not another one
    serial = concurrency.serialization_failure(busy_bank, "REPEATABLE READ")
    assert "SerializationFailure (SQLSTATE 40001)" in serial["result"].iloc[2]
    assert serial["result"].iloc[3] == "booked"
    assert ops.ledger_breaks(busy_bank).empty


def test_8_workers_x_2000_requests_read_committed_with_hostile_ones(busy_bank):
    """The storm: 16 000 requests, 5 % of them hostile (NaN, ±Infinity as Decimal, text or float;
    backdated or at 'infinity'), from 8 clients at once, on the wall clock. Every hostile one is
    refused; the ordinary ones are booked or refused only by the minimum-balance rule (never for
    a booking time behind the last one); every invariant holds."""
    clock.use_wall_clock(busy_bank)
    work = concurrency.plan(busy_bank, WORKERS * PER_WORKER, seed=1, accounts=40, prefix="t-rc", hostile=0.05)
    assert set(work["hostile"]) == {"", *concurrency.HOSTILE}  # every kind of hostile request is in the mix
    before = ops.total_money(busy_bank)
    result = concurrency.run(busy_bank, work, workers=WORKERS, isolation="READ COMMITTED")
    facts = concurrency.verify(busy_bank, result, before, prefix="t-rc")
    print("\n" + concurrency.storm_report(result, facts))
    assert_sound(facts, WORKERS * PER_WORKER)
    assert facts["hostile requests"] == (work["hostile"] != "").sum() > 0
    assert facts["hostile requests booked"] == 0 and facts["NaN or Infinity stored"] == 0
    assert facts["bookings earlier than the one before"] == 0
    outcomes = result.outcomes
    assert set(outcomes["status"]) == {"booked", "refused"}  # the plan includes transfers too big to pass
    hostile = outcomes[outcomes["hostile"] != ""]
    by_kind = hostile.groupby(hostile["hostile"].isin(concurrency.HOSTILE_TIMES))["reason"].unique()
    assert list(by_kind[False]) == ["InvalidParameterValue: amount must be a finite number"]
    assert list(by_kind[True]) == ["UndefinedFunction: no operation takes a booking time"]
    ordinary = outcomes[(outcomes["hostile"] == "") & (outcomes["status"] == "refused")]
    assert set(ordinary["reason"]) == {"CheckViolation: accounts_min_balance"}
    # ordered row locks: no deadlock, and READ COMMITTED never needs a serialization retry
    assert result.outcomes["deadlock_retries"].sum() == 0


def test_serializable_retries_and_stays_sound(busy_bank):
    work = concurrency.plan(busy_bank, WORKERS * 300, seed=2, accounts=10, prefix="t-ser")
    before = ops.total_money(busy_bank)
    result = concurrency.run(busy_bank, work, workers=WORKERS, isolation="SERIALIZABLE")
    assert_sound(concurrency.verify(busy_bank, result, before, prefix="t-ser"), WORKERS * 300)


def test_a_drained_account_books_exactly_what_its_floor_allows(busy_bank):
    table = concurrency.drain_race(busy_bank, workers=WORKERS, attempts=16, seed=3)["value"]
    assert table["booked"] == 5
    assert table["refused (would break the minimum)"] == 11
    assert table["lost"] == 0 and table["money conserved"]
    assert 0 <= table["headroom after"] < table["amount of each transfer"]
