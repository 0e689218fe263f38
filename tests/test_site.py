"""The course website (``fde site``), built from the committed notebooks and read back.

One build per test session (``built_site``, also used by tests/test_browser_site.py): every
lesson has its page, every internal link, anchor and image resolves, no file holds an absolute
path of this machine, solutions start folded, widgets show their static view. Smaller tests
prove that the checks and the build fail, naming the page, when something is broken, and that
a run with live outputs is refused.
"""

import json
import re
import shutil
import urllib.request
from pathlib import Path

import pytest

from fdelib import config, runner
from fdelib import notebooks as nbs
from fdelib import report as run_report
from fdelib.cli import build_parser
from fdelib.config import get_settings
from fdelib.practice import notebook, progress
from fdelib.site import SiteError, build, checks
from fdelib.site import builder as site_build
from fdelib.site import server as site_serve


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> Path:
    """The site built once from the committed notebooks: the folder holding index.html."""
    root = tmp_path_factory.mktemp("site")  # root/cache: Sphinx's cache, shared by the tests here
    index = build("notebooks", out=root / "site", cache=root / "cache", echo=lambda message: None)
    assert index == (root / "site" / "index.html").resolve()
    return index.parent


def lesson_names() -> list[str]:
    settings = get_settings()
    return [p.relative_to(nbs.notebooks_dir(settings)).as_posix() for p in nbs.discover(settings)]


def read(site: Path, page: str) -> str:
    return (site / page).read_text()


def words(html: str) -> str:
    """A page's text without its tags (Sphinx splits inline code into one span per word)."""
    return re.sub(r"<[^>]+>", "", html)


def test_every_lesson_has_its_page_with_prose_code_and_outputs(built_site):
    names = lesson_names()
    assert len(names) >= 17
    for name in names:
        page = read(built_site, name.removesuffix(".ipynb") + ".html")
        assert 'class="cell docutils container"' in page, f"{name}: no code cell on its page"
        assert "cell_output" in page, f"{name}: no stored output on its page"
    # plots, the ERD and timelines are images written from the stored outputs
    assert len(list((built_site / "_images").glob("*.png"))) >= 10
    erd = read(built_site, "02_bank_db/01_model.html")
    assert re.search(r'<img[^>]+src="\.\./_images/[0-9a-f]+\.png"', erd)


def test_every_internal_link_and_image_resolves(built_site):
    assert checks.links(built_site) == []
    images = [u for p in built_site.rglob("*.html") for t, u in checks.parse(p).links if t == "img"]
    assert len(images) >= 10


def test_the_site_holds_no_absolute_path_of_this_machine(built_site):
    settings = get_settings()
    forbidden = [str(settings.project_root), str(settings.project_root.resolve()), str(settings.home)]
    for path in built_site.rglob("*"):
        if path.is_file() and path.suffix in checks.TEXT_SUFFIXES:
            text = path.read_text(errors="replace")
            for needle in forbidden:
                assert needle not in text, f"{path.relative_to(built_site)} holds {needle}"


def test_home_page_has_the_course_map_install_practise_and_links(built_site):
    home = read(built_site, "index.html")
    for name in lesson_names():
        assert f'href="{name.removesuffix(".ipynb")}.html"' in home, f"the map has no link to {name}"
    for heading in ("The course map", "How to install", "How to practise"):
        assert heading in home
    for page in ("report.html", "progress.html", "links.html"):
        assert f'href="{page}"' in home
    assert "min (" in home  # minutes per lesson


def test_exercises_show_question_practise_command_and_folded_solution(built_site):
    total = 0
    for name in lesson_names():
        ids = [f.id for f in notebook.find(notebook.read(nbs.notebooks_dir() / name))]
        page = read(built_site, name.removesuffix(".ipynb") + ".html")
        for exercise_id in ids:
            assert f'id="ex-{exercise_id}"' in page, f"{name}: exercise {exercise_id} is not shown as one"
            assert f"fde practice --solution {exercise_id}" in words(page)
        # each solution is a dropdown admonition: sphinx-togglebutton folds it until clicked
        solutions = re.findall(r'<div class="solution dropdown[^"]*"', page)
        assert len(solutions) == len(ids), name
        if ids:
            assert f"practice/{name}" in words(page)  # the practice copy's name
        total += len(ids)
    assert total >= 30
    assert "togglebutton" in read(built_site, "00_start_here.html")


def test_widgets_show_their_static_view_and_say_where_the_live_one_is(built_site):
    page = read(built_site, "05_refdata/01_security_master.html")
    assert "The live one is in JupyterLab" in page
    assert "VBox(children=" in page  # the stored static view
    assert "application/vnd.jupyter.widget-view+json" not in page
    assert "model_id" not in page


def test_external_links_are_listed_on_one_page(built_site):
    links = read(built_site, "links.html")
    found = {u for t, u in checks.parse(built_site / "links.html").links if u.startswith("https://")}
    assert found, "the links page lists no external link"
    lesson_links = {u for p in built_site.rglob("*.html") if p.name != "links.html" for _, u in checks.parse(p).links}
    assert found <= lesson_links | {u for u in found if "sphinx" in u or "pydata" in u}
    assert "— on" in links


def test_search_index_finds_lei_in_the_reference_data_lesson(built_site):
    text = read(built_site, "searchindex.js")
    index = json.loads(text[text.index("(") + 1 : text.rindex(")")])
    pages = index["terms"]["lei"]
    pages = pages if isinstance(pages, list) else [pages]
    assert index["docnames"].index("05_refdata/01_security_master") in pages


def test_the_site_is_served_on_loopback(built_site):
    httpd = site_serve.server(built_site)
    import threading

    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = httpd.server_address[:2]
        assert host == "127.0.0.1"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/05_refdata/01_security_master.html") as answer:
            assert answer.status == 200
            assert b"GLEIF" in answer.read()
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_link_check_names_the_page_and_the_missing_target(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "page.html").write_text(
        '<html><body><h1 id="top">x</h1><a href="#top">ok</a><a href="../gone.html">x</a>'
        '<img src="../_images/none.png"><a href="../index.html#nowhere">y</a>'
        '<a href="https://example.org/">out</a></body></html>'
    )
    (tmp_path / "index.html").write_text('<html><body><p id="here">home</p></body></html>')
    problems = checks.links(tmp_path)
    assert problems == [
        "a/page.html: link to a missing file: ../gone.html",
        "a/page.html: image to a missing file: ../_images/none.png",
        "a/page.html: link to a missing anchor: ../index.html#nowhere",
    ]
    assert checks.missing_pages(tmp_path, ["index", "a/page", "b/forgotten"]) == [
        "b/forgotten: the site has no page for it"
    ]
    assert checks.leaks(tmp_path, ["home"]) == ["index.html: holds an absolute path of the build machine"]


def test_a_broken_link_in_a_lesson_fails_the_build_naming_it(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "index.md").write_text("# Home\n\n{doc}`a lesson <gone/lesson>`\n\n![plot](missing.png)\n")
    (src / "progress.md").write_text("# orphan\n")
    _, warnings = site_build.sphinx_build(src, tmp_path / "cache", 1, "t")
    text = "\n".join(warnings)
    assert "index.md" in text and "gone/lesson" in text
    assert "missing.png" in text
    assert "progress" in text  # a page no toctree includes (a notebook the site forgot)


def test_scrubber_hides_secrets_and_machine_paths():
    settings = get_settings()
    scrub = site_build.scrubber(settings)
    text = f"{settings.project_root}/notebooks/x.ipynb postgresql://u:hunter22@h/db {settings.home}/pgdata"
    assert scrub(text) == "./notebooks/x.ipynb postgresql://u:***@h/db $FDE_HOME/pgdata"


def make_run(root: Path, mode: str | None) -> Path:
    run = root / "20260101-000000"
    (run / "notebooks").mkdir(parents=True)
    payload = {"notebooks": []} | ({"mode": mode} if mode else {})
    (run / "results.json").write_text(json.dumps(payload))
    return run


def test_a_run_with_live_outputs_is_refused(tmp_path):
    settings = get_settings()
    run = make_run(tmp_path, "live")
    with pytest.raises(SiteError, match="live APIs"):
        site_build.source_of(str(run), settings, warn=lambda message: None)
    # no mode recorded, but the start-here lesson printed the live API mode
    other = make_run(tmp_path / "b", None)
    (other / "notebooks" / "00_start_here.ipynb").write_text('{"x": "live: real APIs, your keys"}')
    with pytest.raises(SiteError, match="FDE_MODE=live"):
        site_build.source_of(str(other), settings, warn=lambda message: None)


@pytest.fixture
def runs_here(tmp_path, monkeypatch):
    """Settings whose runs folder is ``tmp_path`` (offline mode); the real ones again after."""
    monkeypatch.setenv("FDE_RUNS_DIR", str(tmp_path))
    monkeypatch.setenv("FDE_MODE", "offline")
    yield config.reload()
    monkeypatch.undo()
    config.reload()


def test_the_latest_run_is_the_default_source_unless_it_was_live(tmp_path, runs_here):
    settings = runs_here
    assert settings.runs_dir == tmp_path
    assert site_build.source_of(None, settings, warn=print).run_dir is None  # no run yet: committed
    run = make_run(tmp_path, "offline")
    (tmp_path / "latest").symlink_to(run.name)
    assert site_build.source_of(None, settings, warn=print).run_dir == run.resolve()
    (run / "results.json").write_text(json.dumps({"mode": "live"}))
    said = []
    source = site_build.source_of(None, settings, warn=said.append)
    assert source.run_dir is None and "live" in said[0]
    with pytest.raises(SiteError, match="not a run folder"):
        site_build.source_of(str(tmp_path / "latest" / "notebooks"), settings, warn=print)


def test_a_site_built_from_a_run_shows_its_report_and_the_learners_progress(built_site, tmp_path):
    settings = get_settings()
    run = tmp_path / "runs" / "20260102-030405"
    (run / "notebooks").mkdir(parents=True)
    start = nbs.notebooks_dir() / "00_start_here.ipynb"
    shutil.copy(start, run / "notebooks" / start.name)
    figure = next((built_site / "_images").glob("*.png"))
    shutil.copy(figure, run / "notebooks" / "00_start_here.png")  # its first figure
    failing = {"ename": "ValueError", "evalue": f"no file {settings.project_root}/data/x.csv", "traceback": "line 1"}
    # the report as fde run writes it (fdelib.report), for a run that passed one notebook and failed one
    results = [
        runner.NotebookResult(
            start.name, "passed", 6.6, {}, output=start.name, thumbnail="notebooks/00_start_here.png", drift=[]
        ),
        runner.NotebookResult("03_etl/01_market_data_etl.ipynb", "failed", 3.0, {}, error=failing),
    ]
    results[0].html = "notebooks/00_start_here.html"
    results[0].output = "notebooks/00_start_here.ipynb"
    run_report.write(runner.RunResult(run, "2026-01-02T03:04:05", 12.5, results))
    practice = tmp_path / "practice"
    practice.mkdir()
    (practice / progress.MARKER).write_text("{}")
    shutil.copy(start, practice / start.name)
    (practice / progress.STATE).write_text(json.dumps({"latest_close": {"status": "passed", "attempts": 2}}))
    # the session's cache: Sphinx reads again only what differs from the committed build
    cache = built_site.parent / "cache"
    site = build(str(run), out=run / "site", cache=cache, practice=practice, echo=lambda message: None).parent
    report = read(site, "report.html")
    assert "20260102-030405" in report and "ValueError" in report
    assert 'href="00_start_here.html"' in report  # each row links to its lesson
    assert "./data/x.csv" in words(report) and str(settings.project_root) not in report
    mine = read(site, "progress.html")
    assert "1 of 1 exercises pass" in words(mine)
    # fde run's own report, linked from the site's: its rows lead to the lesson pages
    assert 'href="_run/index.html"' in report
    copied = read(site, "_run/index.html")
    assert 'href="../00_start_here.html"' in copied and 'href="notebooks/' not in copied
    assert (site / "_run" / "notebooks" / "00_start_here.png").is_file()
    assert str(settings.project_root) not in copied + read(site, "_run/practice.html")
    assert 'href="00_start_here.html#ex-latest_close"' in mine
    assert "run 20260102-030405" in words(read(site, "index.html"))


def test_fde_site_is_a_command():
    args = build_parser().parse_args(["site", "--from", "notebooks", "--serve", "--port", "8123"])
    assert (args.command, args.source, args.serve, args.port) == ("site", "notebooks", True, 8123)


def test_a_missing_source_folder_is_an_actionable_error(tmp_path):
    with pytest.raises(SiteError, match="no such folder"):
        site_build.source_of(str(tmp_path / "nope"), get_settings(), warn=print)
