"""The report of a notebook run: ``results.json`` and a browsable ``index.html``.

One row per notebook with its status, duration, parameters, drift and links to the executed
notebook and its HTML rendering. Failures come first, each with the failing cell's code
and traceback, so the reason is the first thing a reader sees; then the notebooks that ran
but whose outputs differ from the committed ones (drift), each differing cell with its diff.
"""

from __future__ import annotations

import dataclasses
import html
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .runner import RunResult

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
h1 { font-size: 1.4rem; } table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid #ddd; vertical-align: top; }
.passed { color: #17803d; font-weight: 600; } .failed, .timeout { color: #b42318; font-weight: 600; }
pre { background: #f6f6f6; padding: .6rem; overflow-x: auto; font-size: .85rem; }
.failure { border-left: 4px solid #b42318; padding-left: 1rem; margin-bottom: 1.5rem; }
.drift { color: #b54708; font-weight: 600; } .same { color: #17803d; } .unchecked { color: #667085; }
.drifted { border-left: 4px solid #b54708; padding-left: 1rem; margin-bottom: 1.5rem; }
code { background: #f0f0f0; padding: 0 .2rem; }
img.thumb { max-width: 160px; max-height: 90px; border: 1px solid #ddd; }
"""


def write(run: RunResult) -> None:
    """Write ``results.json`` and ``index.html`` into the run folder."""
    payload = {
        "started": run.started,
        "duration": round(run.duration, 2),
        "passed": len(run.results) - len(run.failed),
        "failed": len(run.failed),
        "drifted": len(run.drifted),
        "notebooks": [dataclasses.asdict(r) for r in run.results],
    }
    (run.run_dir / "results.json").write_text(json.dumps(payload, indent=2, default=str))
    (run.run_dir / "index.html").write_text(render(run))
    write_practice_page(run)


def write_practice_page(run: RunResult) -> None:
    """``practice.html``: what the exercise checks cost in this run, and the learner's progress."""
    from .practice import progress

    (run.run_dir / "practice.html").write_text(progress.render_html(run_dir=run.run_dir))


def parameters_html(result) -> str:
    """Every parameter the notebook ran with: values given with -p in bold, defaults plain."""
    values = {**result.defaults, **result.parameters}
    if not values:
        return "<code>(none)</code>"
    return "<br>".join(
        (
            f"<b><code>{html.escape(f'{k}={v!r}')}</code></b>"
            if k in result.parameters
            else f"<code>{html.escape(f'{k}={v}')}</code>"
        )
        for k, v in values.items()
    )


def drift_html(result) -> str:
    """The drift cell of a notebook's row: which cells differ from the committed outputs."""
    if result.drift is None:
        why = "run with -p parameters" if result.parameters else "did not pass"
        return f'<span class="unchecked">not compared ({why})</span>'
    if not result.drift:
        return '<span class="same">as committed</span>'
    cells = ", ".join(str(d["cell"]) for d in result.drift if d["cell"] is not None) or "cell count"
    return f'<span class="drift">differs: cell {html.escape(cells)}</span>'


def render(run: RunResult) -> str:
    esc = html.escape
    failures = []
    for result in run.failed:
        err = result.error or {}
        failures.append(
            f'<div class="failure"><h3>{esc(result.name)}</h3>'
            f"<p>{esc(result.describe_failure())}</p>"
            + (f"<pre>{esc(err.get('source') or '')}</pre>" if err.get("source") else "")
            + (f"<pre>{esc(err.get('traceback') or '')}</pre>" if err.get("traceback") else "")
            + "</div>"
        )
    drifted = []
    for result in run.drifted:
        cells = "".join(
            f"<h4>cell {d['cell']} (In [{d['exec_count']}]) <code>{esc(d['source'])}</code></h4>"
            f"<pre>{esc(d['diff'])}</pre>"
            for d in result.drift or []
        )
        drifted.append(f'<div class="drifted"><h3>{esc(result.name)}</h3>{cells}</div>')
    rows = []
    for result in sorted(run.results, key=lambda r: (r.ok, not r.drift)):
        links = " ".join(
            f'<a href="{esc(target)}">{label}</a>'
            for label, target in (("html", result.html), ("ipynb", result.output))
            if target
        )
        thumb = (
            f'<a href="{esc(result.html or result.thumbnail)}"><img class="thumb" '
            f'src="{esc(result.thumbnail)}" alt="first figure of {esc(result.name)}"></a>'
            if result.thumbnail
            else ""
        )
        rows.append(
            f"<tr><td>{esc(result.name)}</td><td class='{result.status}'>{result.status}</td>"
            f"<td>{result.duration:.1f} s</td><td>{drift_html(result)}</td><td>{parameters_html(result)}</td>"
            f"<td>{links}</td><td>{thumb}</td></tr>"
        )
    summary = (
        f"{len(run.results) - len(run.failed)} passed, {len(run.failed)} failed, "
        f"{len(run.drifted)} differ from their committed outputs "
        f"in {run.duration:.1f} s (started {esc(run.started)})"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fde run {esc(run.run_dir.name)}</title>
<style>{STYLE}</style></head><body>
<h1>fde run {esc(run.run_dir.name)}</h1><p>{summary} · <a href="practice.html">exercises and practice progress</a></p>
{"<h2>Failures</h2>" + "".join(failures) if failures else ""}
{"<h2>Outputs that differ from the committed ones</h2>" + "".join(drifted) if drifted else ""}
<table><thead><tr><th>notebook</th><th>status</th><th>duration</th><th>drift</th><th>parameters</th>
<th>output</th><th>first figure</th></tr></thead><tbody>
{"".join(rows)}
</tbody></table></body></html>
"""
