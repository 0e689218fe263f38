"""benchmarks/history.py: each run appended to the machine's history, compared with the last."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import history


def test_record_appends_and_compares_with_the_previous_run_with_the_same_parameters(tmp_path, capsys):
    path = tmp_path / "machine.jsonl"
    history.record("bench_x", {"load": (100_000, "rows/s"), "start": (2.0, "s")}, {"rows": 10}, path=path)
    assert "first run of bench_x" in capsys.readouterr().out
    history.record("bench_x", {"load": (1_000, "rows/s")}, {"rows": 99}, path=path)  # other parameters
    assert "first run of bench_x" in capsys.readouterr().out
    path.write_text(path.read_text() + '{"cut short\n')  # a killed run's line
    entry = history.record(
        "bench_x", {"load": (110_000, "rows/s"), "start": (3.0, "s"), "new": (1, "x")}, {"rows": 10}, path=path
    )
    out = capsys.readouterr().out
    assert "against the previous run on this machine" in out
    assert "100,000 rows/s ->   110,000 rows/s   +10.0 % better" in out
    assert "2.00 s ->           3.00 s   +50.0 % worse" in out
    assert "(new) ->" in out
    lines = path.read_text().splitlines()
    assert len(lines) == 4 and json.loads(lines[-1]) == entry
    assert entry["figures"]["start"] == {"value": 3.0, "unit": "s", "better": "lower"}
    assert set(entry) >= {"time", "commit", "dirty", "load", "cpus", "python", "params"}
    assert history.previous_run("bench_x", {"rows": 99}, path)["figures"]["load"]["value"] == 1_000
