"""Benchmark: the course website built from the committed notebooks, against nbconvert.

    python benchmarks/bench_site.py [--repeat 3] [--jobs 2]

Measured in the same run, wall time and CPU time (this process and its children: the machine
may be shared, and CPU seconds say what the build costs whatever else runs):
* baseline: every notebook converted to HTML by nbconvert's HTMLExporter, one after the other
  (what ``fde run`` does for its report, without a site around it);
* ``fde site``, cold: a fresh cache (Sphinx reads and writes every page), then the checks;
* ``fde site``, warm: the same cache, nothing changed (Sphinx reads nothing again).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path


def cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(action) -> tuple[float, float]:
    wall, used = time.perf_counter(), cpu()
    action()
    return time.perf_counter() - wall, cpu() - used


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="fde-bench-site-", dir="/tmp"))
    os.environ.update(FDE_HOME=str(scratch / "home"), FDE_ENV_FILE="none", FDE_MODE="offline")

    import nbformat
    from history import record  # benchmarks/history.py: this machine's earlier runs
    from nbconvert import HTMLExporter

    from fdelib import notebooks as nbs
    from fdelib import site

    try:
        lessons = nbs.discover()

        def convert() -> None:
            exporter = HTMLExporter()
            for path in lessons:
                exporter.from_notebook_node(nbformat.read(path, as_version=4))

        def build(cache: Path, out: Path) -> None:
            index = site.build("notebooks", out=out, cache=cache, jobs=args.jobs, echo=lambda message: None)
            if not index.is_file():
                raise SystemExit("the site has no index.html: figures withheld")

        baseline = min((timed(convert) for _ in range(args.repeat)), key=lambda t: t[0])
        cold, warm = [], []
        for i in range(args.repeat):
            cache = scratch / f"cache{i}"
            cold.append(timed(lambda cache=cache, i=i: build(cache, scratch / f"cold{i}")))
            warm.append(timed(lambda cache=cache, i=i: build(cache, scratch / f"warm{i}")))
        cold_best, warm_best = min(cold), min(warm)
        pages = len(list((scratch / "cold0").rglob("*.html")))
        load = os.getloadavg()[0]
        print(f"{len(lessons)} lessons, {pages} HTML pages, {args.jobs} Sphinx process(es), load {load:.1f}")
        print(f"  nbconvert HTML of every notebook : {baseline[0]:6.1f} s wall {baseline[1]:6.1f} s CPU (baseline)")
        for label, (wall, used) in (("fde site, cold cache", cold_best), ("fde site, warm cache", warm_best)):
            print(f"  {label:<32} : {wall:6.1f} s wall {used:6.1f} s CPU ({wall / baseline[0]:.2f}x)")
        record(
            "bench_site",
            {
                "nbconvert HTML, all notebooks (baseline)": (baseline[0], "s"),
                "site build, cold cache": (cold_best[0], "s"),
                "site build, cold cache, CPU": (cold_best[1], "s"),
                "site build, warm cache": (warm_best[0], "s"),
                "site build, warm cache, CPU": (warm_best[1], "s"),
            },
            vars(args),
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
