"""Right-sized tasks: a retry redoes a whole task; every task costs scheduling."""

import pytest

from fdelib.workflows import sizing


def test_a_retry_redoes_the_failed_task_from_its_start_and_loses_nothing():
    big = sizing.load(10_000, 10_000, fail_at=7_300)
    assert (big.tasks_scheduled, big.processed, big.redone) == (2, 17_300, 7_300)
    right = sizing.load(10_000, 500, fail_at=7_300)
    assert (right.tasks_scheduled, right.processed, right.redone) == (21, 10_300, 300)
    tiny = sizing.load(10_000, 1, fail_at=7_300)
    assert (tiny.tasks_scheduled, tiny.redone) == (10_001, 0)
    assert big.stored == right.stored == tiny.stored == set(range(10_000))


def test_compare_counts_work_units_per_task_size():
    table = sizing.compare(1_000, [1_000, 100], fail_at=550, overhead=20)
    assert table.loc[1_000].to_dict() == {
        "tasks scheduled": 2,
        "records processed": 1_550,
        "records redone": 550,
        "total cost (record units)": 1_590,
    }
    assert table.loc[100].to_dict() == {
        "tasks scheduled": 11,
        "records processed": 1_050,
        "records redone": 50,
        "total cost (record units)": 1_270,
    }


def test_expected_waste_is_lowest_between_the_extremes():
    waste = sizing.expected_waste(10_000, [10, 100, 1_000, 10_000], overhead=20)
    total = waste[waste["cost"] == "waste: both together"].set_index("task size (records)")["record units"]
    assert total.idxmin() == 1_000
    redone = waste[waste["cost"].str.startswith("records redone")].set_index("task size (records)")["record units"]
    assert redone.loc[10_000] == pytest.approx(4_999.5)  # a retry redoes half a task on average


def test_failure_position_is_seeded_and_inside_the_load():
    assert sizing.failure_position(42, 10_000) == sizing.failure_position(42, 10_000)
    assert 5_000 <= sizing.failure_position(7, 10_000) < 10_000
    with pytest.raises(ValueError, match="fail_at must be a record"):
        sizing.load(10, 5, fail_at=10)
