"""Building the course website: choose the notebooks, stage them, run Sphinx, check the result.

1. :func:`source_of` picks the notebooks: the latest run's executed ones (``runs/latest``),
   else the committed ones (their stored outputs). A run whose outputs came from live APIs
   (``FDE_MODE=live``: your account's data) is refused when named, and skipped (with a
   warning) when it is only the latest.
2. :func:`stage` writes Sphinx's source folder: the home page, the lessons prepared by
   :mod:`fdelib.site.lesson_pages`, the run report, the learner's progress, the external
   links. A file whose content did not change keeps its time stamp, so Sphinx reads only what
   changed (its doctrees are kept in a cache folder between builds).
3. Sphinx (``myst-nb`` with execution off, the book theme, ``sphinx-exercise``) builds the HTML
   in the cache, in ``jobs`` processes; every warning fails the build (``-W``, nitpicky),
   naming the page.
4. The HTML is copied to ``<run>/site/`` and checked by :mod:`fdelib.site.checks`: every
   internal link, anchor and image, every lesson's page, no absolute path, no secret.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import shutil
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import notebooks as nbs
from ..config import Settings, get_settings, redact, secrets_of
from ..errors import FdeError
from . import checks, lesson_pages, pages
from .lessons import Lesson, lessons

CONF_DIR = Path(__file__).parent / "sphinx"
LIVE_MARK = "live: real APIs"  # fdelib.start.stack_table's API-mode line in live mode
EXTRA_PAGES = [("report", "Run report"), ("progress", "Your progress"), ("links", "External links")]


class SiteError(FdeError):
    """The site could not be built, or it was built with broken links or leaks."""


@dataclasses.dataclass(frozen=True)
class Source:
    notebooks: Path  # a folder laid out like notebooks/
    run_dir: Path | None  # the run, when the notebooks are a run's executed ones
    label: str


@dataclasses.dataclass(frozen=True)
class Staged:
    lessons: list[Lesson]
    exercises: dict[str, list[str]]  # lesson path -> exercise ids
    docnames: list[str]


def run_mode(run_dir: Path) -> str | None:
    """``live`` or ``offline`` when the run says which (``results.json``'s ``mode``, or the
    API-mode line the start-here lesson prints), else None."""
    try:
        mode = json.loads((run_dir / "results.json").read_text()).get("mode")
    except (OSError, ValueError, AttributeError):
        mode = None
    if mode:
        return str(mode)
    return "live" if _prints_live(run_dir / "notebooks") else None


def _prints_live(folder: Path) -> bool:
    return any(LIVE_MARK in path.read_text(errors="replace") for path in folder.rglob("*.ipynb"))


def source_of(choice: str | Path | None, settings: Settings, warn: Callable[[str], None]) -> Source:
    committed = nbs.notebooks_dir(settings)
    if choice is None:
        latest = settings.runs_dir / "latest"
        if (latest / "notebooks").is_dir():
            run_dir = latest.resolve()
            if run_mode(run_dir) == "live" or (run_mode(run_dir) is None and settings.live):
                warn(
                    f"fde site: the latest run ({run_dir.name}) may hold live outputs (FDE_MODE=live): "
                    "building from the committed notebooks instead"
                )
            else:
                return Source(run_dir / "notebooks", run_dir, f"run {run_dir.name}")
        return Source(committed, None, "the committed notebooks' stored outputs")
    path = Path(choice)
    if str(choice) == "notebooks" or path.resolve() == committed.resolve():
        return Source(committed, None, "the committed notebooks' stored outputs")
    if not path.is_dir():
        raise SiteError(f"--from {choice}: no such folder; give a run folder (runs/<timestamp>) or `notebooks`")
    run_dir = path.resolve()
    if not (run_dir / "notebooks").is_dir():
        raise SiteError(f"--from {choice}: not a run folder (it has no notebooks/): give runs/<timestamp>")
    mode = run_mode(run_dir)
    if mode == "live" or (mode is None and settings.live):
        raise SiteError(
            f"--from {choice}: this run used live APIs (FDE_MODE=live), its outputs are your account's "
            "data; build from an offline run or from the committed notebooks (--from notebooks)"
        )
    return Source(run_dir / "notebooks", run_dir, f"run {run_dir.name}")


def scrubber(settings: Settings, *more: Path) -> Callable[[str], str]:
    """Text with the secrets redacted and this machine's absolute paths made relative."""
    secrets = secrets_of(settings)
    labels: dict[str, str] = {}
    for path, label in (
        *((p, ".") for p in more),
        (settings.runs_dir, "runs"),
        (settings.data_dir, "data"),
        (settings.home, "$FDE_HOME"),
        (settings.project_root, "."),
        (Path.home(), "~"),
    ):
        for variant in {str(path), str(Path(path).resolve())}:
            if len(variant) > 1:
                labels.setdefault(variant, label)
    ordered = sorted(labels.items(), key=lambda item: len(item[0]), reverse=True)

    def scrub(text: str) -> str:
        text = redact(text, secrets)
        for path, label in ordered:
            if path in text:
                text = text.replace(path + "/", label + "/").replace(path, label)
        return text

    return scrub


def forbidden_paths(settings: Settings, *more: Path) -> list[str]:
    """Absolute paths that must not appear in the built site."""
    found = set()
    for path in (settings.project_root, settings.home, settings.runs_dir, Path.home(), *more):
        for variant in (str(path), str(Path(path).resolve())):
            if len(variant) > 1:
                found.add(variant + "/")
    return sorted(found)


def write_if_changed(path: Path, text: str) -> bool:
    try:
        if path.read_text() == text:
            return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return True


def stage(
    source: Source, srcdir: Path, settings: Settings, scrub: Callable[[str], str], practice: Path | None = None
) -> Staged:
    """Write Sphinx's source folder for ``source``; return what it holds."""
    committed = nbs.notebooks_dir(settings)
    books: dict[str, dict[str, Any]] = {}
    for path in nbs.discover(settings):
        name = path.relative_to(committed).as_posix()
        executed = source.notebooks / name
        chosen = executed if executed.is_file() else path
        books[name] = json.loads(chosen.read_text())
        if LIVE_MARK in chosen.read_text(errors="replace"):
            raise SiteError(f"{name}: its outputs come from live APIs (FDE_MODE=live); re-run it offline first")
    course = lessons(books)
    exercises: dict[str, list[str]] = {}
    wanted = {"index.md", *(f"{doc}.md" for doc, _ in EXTRA_PAGES)}
    for lesson in course:
        prepared, ids = lesson_pages.prepare(books[lesson.path], lesson.path, scrub)
        exercises[lesson.path] = ids
        write_if_changed(srcdir / lesson.path, json.dumps(prepared, indent=1, ensure_ascii=False) + "\n")
        wanted.add(lesson.path)
    known = {i for ids in exercises.values() for i in ids}
    write_if_changed(
        srcdir / "index.md", pages.home(course, exercises, built_from=source.label, extra_pages=EXTRA_PAGES)
    )
    write_if_changed(srcdir / "report.md", pages.report(source.run_dir, course, scrub))
    write_if_changed(srcdir / "progress.md", pages.progress(_progress_frame(practice), known))
    write_if_changed(srcdir / "links.md", pages.LINKS)
    for path in list(srcdir.rglob("*")):  # a page from an earlier build that is gone now
        if path.is_file() and path.relative_to(srcdir).as_posix() not in wanted:
            path.unlink()
    docnames = ["index", *(lesson.docname for lesson in course), *(doc for doc, _ in EXTRA_PAGES)]
    return Staged(course, exercises, docnames)


def _progress_frame(practice: Path | None = None):
    """The learner's progress table (:func:`fdelib.practice.progress.table`), None without copies."""
    from ..practice import progress

    root = practice or progress.default_dir()
    if not (root / progress.MARKER).exists():
        return None
    return progress.table(root)


def sphinx_build(srcdir: Path, cache: Path, jobs: int, title: str) -> tuple[Path, list[str]]:
    """Run Sphinx into ``cache/html``; the HTML folder and every warning it gave."""
    from sphinx.application import Sphinx
    from sphinx.util.console import nocolor
    from sphinx.util.docutils import docutils_namespace, patch_docutils

    nocolor()
    messages = io.StringIO()
    outdir = cache / "html"
    with warnings.catch_warnings(), patch_docutils(CONF_DIR), docutils_namespace():
        # the extensions still use APIs Sphinx 11 removes: their business, not the reader's
        warnings.filterwarnings("ignore", message=r".*is deprecated\. Check CHANGES for Sphinx API")
        app = Sphinx(
            str(srcdir),
            str(CONF_DIR),
            str(outdir),
            str(cache / "doctrees"),
            "html",
            confoverrides={"html_title": title},
            status=None,
            warning=messages,
            freshenv=False,
            parallel=jobs,
        )
        app.build()
    lines = [line for line in messages.getvalue().splitlines() if line.strip()]
    return outdir, lines


RUN_REPORT = "_run"  # the run's own report (fdelib.report), copied into the site
_REPORT_LINK = re.compile(r'<a href="notebooks/(?P<name>[^"]+)\.(?P<kind>html|ipynb)">(?P<label>[^<]*)</a>')
_REPORT_THUMB = re.compile(r'(src|href)="notebooks/(?P<name>[^"]+\.png)"')


def copy_run_report(run_dir: Path, out: Path, scrub: Callable[[str], str]) -> bool:
    """The report ``fde run`` wrote (``index.html``, ``practice.html``) into ``out/_run/``, scrubbed,
    each notebook's link pointing at its lesson page on the site, its first figure copied."""
    if not (run_dir / "index.html").is_file():
        return False
    target = out / RUN_REPORT
    target.mkdir(parents=True, exist_ok=True)

    def link(match: re.Match[str]) -> str:
        if match["kind"] == "ipynb":
            return ""  # the executed notebook stays in the run folder; its page is the lesson
        return f'<a href="../{match["name"]}.html">lesson page</a>'

    def thumb(match: re.Match[str]) -> str:
        source = run_dir / "notebooks" / match["name"]
        if source.is_file():
            (target / "notebooks" / match["name"]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target / "notebooks" / match["name"])
        return match[0]

    text = _REPORT_THUMB.sub(thumb, _REPORT_LINK.sub(link, (run_dir / "index.html").read_text()))
    text = re.sub(r'<a href="(notebooks/[^"]+\.html)">', '<a href="../\\1">', text)  # thumbnails' links
    text = text.replace('<a href="../notebooks/', '<a href="../')
    (target / "index.html").write_text(scrub(text))
    practice = run_dir / "practice.html"
    if practice.is_file():
        (target / "practice.html").write_text(scrub(practice.read_text()))
    else:
        text = (target / "index.html").read_text().replace('<a href="practice.html">', '<a href="../progress.html">')
        (target / "index.html").write_text(text)
    return True


def default_out(source: Source, settings: Settings) -> Path:
    return (source.run_dir or settings.runs_dir) / "site"


def build(
    choice: str | Path | None = None,
    out: Path | None = None,
    *,
    settings: Settings | None = None,
    cache: Path | None = None,
    jobs: int | None = None,
    echo: Callable[[str], None] | None = None,
    practice: Path | None = None,
) -> Path:
    """Build the site; return its ``index.html``. Raises :class:`SiteError` naming what is wrong.

    ``practice``: the learner's practice folder for the progress page (default: ``practice/``)."""
    import fasteners

    settings = settings or get_settings()
    say = echo or (lambda message: print(message, file=sys.stderr))
    source = source_of(choice, settings, say)
    out = Path(out or default_out(source, settings)).resolve()
    cache = Path(cache or settings.home / "site-cache").resolve()
    cache.mkdir(parents=True, exist_ok=True)
    jobs = jobs or min(2, os.cpu_count() or 1)
    t0 = time.perf_counter()
    srcdir = cache / "src"
    scrub = scrubber(settings, cache)
    with fasteners.InterProcessLock(str(cache / ".lock")):
        say(f"fde site: staging {source.label}")
        staged = stage(source, srcdir, settings, scrub, practice)
        say(f"fde site: Sphinx builds {len(staged.docnames)} pages ({jobs} process(es))")
        html, complaints = sphinx_build(srcdir, cache, jobs, "fde-workbench")
        if complaints:
            shown = "\n  ".join(scrub(w) for w in complaints[:20])
            more = f"\n  … and {len(complaints) - 20} more" if len(complaints) > 20 else ""
            raise SiteError(f"the site has {len(complaints)} problem(s) (Sphinx warnings):\n  {shown}{more}")
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(html, out, ignore=shutil.ignore_patterns(".buildinfo", ".doctrees", "objects.inv"))
        if source.run_dir is not None:
            copy_run_report(source.run_dir, out, scrub)
    say("fde site: checking links, images, paths and secrets")
    problems = checks.check(out, staged.docnames, forbidden_paths(settings, cache, out), secrets_of(settings))
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise SiteError(f"the site in {settings.display_path(out)} has {len(problems)} problem(s):\n  {shown}{more}")
    say(f"fde site: {len(staged.docnames)} pages in {time.perf_counter() - t0:.1f} s")
    return out / "index.html"
