"""The report of a notebook run: ``results.json`` and a browsable ``index.html``.

One row per notebook with its status, duration, parameters and links to the executed
notebook and its HTML rendering. Failures come first, each with the failing cell's code
and traceback, so the reason is the first thing a reader sees.
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
code { background: #f0f0f0; padding: 0 .2rem; }
img.thumb { max-width: 160px; max-height: 90px; border: 1px solid #ddd; }
"""


def write(run: "RunResult") -> None:
    """Write ``results.json`` and ``index.html`` into the run folder."""
    payload = {"started": run.started, "duration": round(run.duration, 2),
               "passed": len(run.results) - len(run.failed), "failed": len(run.failed),
               "notebooks": [dataclasses.asdict(r) for r in run.results]}
    (run.run_dir / "results.json").write_text(json.dumps(payload, indent=2, default=str))
    (run.run_dir / "index.html").write_text(render(run))
    write_practice_page(run)


def write_practice_page(run: "RunResult") -> None:
    """``practice.html``: what the exercise checks cost in this run, and the learner's progress."""
    from .practice import progress

    (run.run_dir / "practice.html").write_text(progress.render_html(run_dir=run.run_dir))


def parameters_html(result) -> str:
    """Every parameter the notebook ran with: values given with -p in bold, defaults plain."""
    values = {**result.defaults, **result.parameters}
    if not values:
        return "<code>(none)</code>"
    return "<br>".join(
        (f"<b><code>{html.escape(f'{k}={v!r}')}</code></b>" if k in result.parameters
         else f"<code>{html.escape(f'{k}={v}')}</code>") for k, v in values.items())


def render(run: "RunResult") -> str:
    esc = html.escape
    failures = []
    for result in run.failed:
        err = result.error or {}
        failures.append(
            f'<div class="failure"><h3>{esc(result.name)}</h3>'
            f"<p>{esc(result.describe_failure())}</p>"
            + (f"<pre>{esc(err.get('source') or '')}</pre>" if err.get("source") else "")
            + (f"<pre>{esc(err.get('traceback') or '')}</pre>" if err.get("traceback") else "")
            + "</div>")
    rows = []
    for result in sorted(run.results, key=lambda r: r.ok):
        links = " ".join(
            f'<a href="{esc(target)}">{label}</a>'
            for label, target in (("html", result.html), ("ipynb", result.output)) if target)
        thumb = (f'<a href="{esc(result.html or result.thumbnail)}"><img class="thumb" '
                 f'src="{esc(result.thumbnail)}" alt="first figure of {esc(result.name)}"></a>'
                 if result.thumbnail else "")
        rows.append(
            f"<tr><td>{esc(result.name)}</td><td class='{result.status}'>{result.status}</td>"
            f"<td>{result.duration:.1f} s</td><td>{parameters_html(result)}</td>"
            f"<td>{links}</td><td>{thumb}</td></tr>")
    summary = (f"{len(run.results) - len(run.failed)} passed, {len(run.failed)} failed "
               f"in {run.duration:.1f} s (started {esc(run.started)})")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fde run {esc(run.run_dir.name)}</title>
<style>{STYLE}</style></head><body>
<h1>fde run {esc(run.run_dir.name)}</h1><p>{summary} · <a href="practice.html">exercises and practice progress</a></p>
{"<h2>Failures</h2>" + "".join(failures) if failures else ""}
<table><thead><tr><th>notebook</th><th>status</th><th>duration</th><th>parameters</th>
<th>output</th><th>first figure</th></tr></thead><tbody>
{"".join(rows)}
</tbody></table></body></html>
"""
