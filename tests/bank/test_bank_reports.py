"""A business day reconciles: booked deposits, withdrawals and loan payments explain Σ balances."""

import pandas as pd
import pytest

from fdelib import bank
from fdelib.bank import ops, reports


def test_booked_flow_counts_only_booked_money_in_and_out():
    plan = pd.DataFrame(
        {
            "n": range(6),
            "amount": [100.0, 30.0, 20.0, 55.5, 1000.0, 7.25],
            "operation": ["deposit", "withdraw", "pay_loan", "transfer", "deposit", "withdraw"],
        }
    )
    results = plan[["n", "operation"]].assign(
        outcome=["booked", "booked", "booked", "booked", "CheckViolation", "booked"]
    )
    # 100 - 30 - 20 - 7.25; the transfer only moves money, the refused deposit never happened
    assert reports.booked_flow(plan, results) == 42.75
    assert reports.booked_flow(plan.iloc[3:4], results.iloc[3:4]) == 0


def test_a_day_of_requests_reconciles(engine):
    bank.populate(engine, customers=120, seed=5, as_of="2026-01-02", weeks=2)
    before = ops.total_money(engine)
    plan = ops.plan_day(engine, 60, seed=5, as_of="2026-01-02")
    results = ops.run_day(engine, plan)
    check = reports.reconcile_day(engine, plan, results, total_before=before)
    assert float(check["change of Σ balances"]) == pytest.approx(
        check["deposits - withdrawals - loan payments"], abs=0.005
    )
    assert check["deposits - withdrawals - loan payments"] != 0
    assert check["ledger breaks"] == 0
