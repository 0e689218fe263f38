"""Benchmarks with memory: each run's figures, appended to this machine's history.

    from history import record
    record("bench_db", {"bare COPY (baseline)": (rows / baseline, "rows/s"),
                        "copy_dataframe": (rows / ours, "rows/s")}, params={"rows": rows})

:func:`record` appends one JSON line to ``benchmarks/history/<machine>.jsonl`` (one file per
machine, never committed: figures from different machines do not compare) and prints each
figure beside the previous run of the same benchmark with the same parameters on this
machine, with the change in percent and whether that is better or worse. Every record
carries what makes two runs comparable or not: the commit (and whether the tree had
changes), the load average before and after (the machine may be shared), cores, Python.

A figure is ``(value, unit)`` or ``(value, unit, better)``; ``better`` is ``"higher"`` or
``"lower"``, by default higher for rates (``rows/s``, ``orders/min``...) and ratios
(``x``), lower for times (``s``, ``ms``). ``FDE_BENCH_HISTORY`` names another file.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOAD_AT_START = os.getloadavg()


def history_file() -> Path:
    override = os.environ.get("FDE_BENCH_HISTORY")
    if override:
        return Path(override)
    machine = "".join(c if c.isalnum() or c in "-_." else "_" for c in socket.gethostname()) or "machine"
    return HERE / "history" / f"{machine}.jsonl"


def _commit() -> tuple[str, bool]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=HERE, capture_output=True, text=True, timeout=10).stdout.strip()

    try:
        return git("rev-parse", "--short", "HEAD") or "unknown", bool(
            git("status", "--porcelain", "--untracked-files=no")
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown", False


def better_of(unit: str) -> str:
    return "lower" if unit in ("s", "ms", "min") else "higher"


def _normalise(figures: dict) -> dict[str, dict]:
    out = {}
    for name, figure in figures.items():
        value, unit, *rest = figure
        out[name] = {"value": float(value), "unit": unit, "better": rest[0] if rest else better_of(unit)}
    return out


def previous_run(benchmark: str, params: dict, path: Path | None = None) -> dict | None:
    """The newest recorded run of ``benchmark`` with the same ``params`` (None: there is none)."""
    path = path or history_file()
    if not path.exists():
        return None
    found = None
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:  # a line cut short by a killed run: skip it
            continue
        if entry.get("benchmark") == benchmark and entry.get("params") == params:
            found = entry
    return found


def record(benchmark: str, figures: dict, params: dict | None = None, path: Path | None = None) -> dict:
    """Append this run to the history; print the change against the previous comparable run."""
    path = path or history_file()
    params = json.loads(json.dumps(params or {}, default=str))
    before = previous_run(benchmark, params, path)
    commit, dirty = _commit()
    entry = {
        "benchmark": benchmark,
        "time": dt.datetime.now().isoformat(timespec="seconds"),
        "commit": commit,
        "dirty": dirty,
        "params": params,
        "load": {"start": [round(x, 2) for x in LOAD_AT_START], "end": [round(x, 2) for x in os.getloadavg()]},
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "figures": _normalise(figures),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(entry) + "\n")
    print(compare(entry, before, path))
    return entry


def _fmt(value: float, unit: str) -> str:
    if abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}"


def compare(now: dict, before: dict | None, path: Path) -> str:
    """The change of each figure against ``before``, as lines for the terminal."""
    shown = os.path.relpath(path) if str(path).startswith(str(Path.cwd())) else str(path)
    load = now["load"]["end"][0]
    if before is None:
        return (
            f"history: first run of {now['benchmark']} with these parameters on this machine "
            f"(load {load:.1f}); recorded in {shown}"
        )
    lines = [
        f"history: against the previous run on this machine, {before['time'].replace('T', ' ')} at "
        f"{before['commit']}{' (+changes)' if before.get('dirty') else ''}, load {before['load']['end'][0]:.1f} "
        f"(now {load:.1f}); {shown}"
    ]
    width = max(len(name) for name in now["figures"])
    for name, figure in now["figures"].items():
        old = before["figures"].get(name)
        if old is None or old["unit"] != figure["unit"]:
            lines.append(f"  {name:<{width}}  {'(new)':>16} -> {_fmt(figure['value'], figure['unit']):>16}")
            continue
        change = (figure["value"] - old["value"]) / old["value"] * 100 if old["value"] else float("inf")
        verdict = (
            "" if abs(change) < 0.05 else ("better" if (change > 0) == (figure["better"] == "higher") else "worse")
        )
        lines.append(
            f"  {name:<{width}}  {_fmt(old['value'], old['unit']):>16} -> "
            f"{_fmt(figure['value'], figure['unit']):>16}  {change:+6.1f} % {verdict}"
        )
    for name in before["figures"].keys() - now["figures"].keys():
        lines.append(f"  {name:<{width}}  (no longer measured)")
    return "\n".join(lines)


if __name__ == "__main__":  # python benchmarks/history.py: the last run of each benchmark
    file = history_file()
    last: dict[str, dict] = {}
    if file.exists():
        for text in file.read_text().splitlines():
            try:
                item = json.loads(text)
            except ValueError:
                continue
            last[item["benchmark"]] = item
    for item in last.values():
        print(f"{item['benchmark']}: {item['time']} at {item['commit']}, load {item['load']['end'][0]:.1f}")
        for key, fig in item["figures"].items():
            print(f"  {key}: {_fmt(fig['value'], fig['unit'])}")
    if not last:
        print(f"no history yet in {file}", file=sys.stderr)
