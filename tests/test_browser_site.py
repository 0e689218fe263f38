"""The course website in a real browser, as a learner reads it: from the file system (no
server) and from ``fde site --serve``'s loopback server.

Headless Chromium (Debian's, driven by Playwright, as tests/test_browser.py does) opens the
home page, follows the course map to a lesson, folds a solution open, searches for "LEI" and
lands on the reference-data lesson, and walks next/previous to the end of a course folder.
The site is the one tests/test_site.py builds from the committed notebooks.
"""

import re
import threading
from pathlib import Path

import pytest

from fdelib import notebooks as nbs
from fdelib.site import server
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, ms
from tests.test_site import built_site  # noqa: F401 (the session's site, a fixture)

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Chromium is not installed (apt-get install chromium); .ci/run installs it"
)

FOLDER = "02_bank_db"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(params=["file", "http"])
def base(request, built_site) -> str:
    """The site's root URL: a file:// folder, or the loopback server of ``fde site --serve``."""
    if request.param == "file":
        yield built_site.as_uri() + "/"
        return
    httpd = server.server(built_site)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def page(browser, base):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(ms(15))
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert errors == [], f"JavaScript errors on the site: {errors}"


def folder_lessons(folder: str) -> list[str]:
    root = nbs.notebooks_dir()
    return [p.relative_to(root).with_suffix(".html").as_posix() for p in nbs.discover() if p.parent.name == folder]


def test_home_map_leads_to_a_lesson_whose_solution_folds_open(page, base):
    page.goto(base + "index.html")
    assert "The course map" in page.inner_text("main")
    lesson = folder_lessons(FOLDER)[0]
    page.locator(f"main a[href='{lesson}']").first.click()
    page.wait_for_url(re.compile(re.escape(lesson) + "$"))
    solution = page.locator("div.solution.dropdown").first
    content = solution.locator("section").first
    button = solution.locator("button.toggle-button")
    button.wait_for(state="visible")
    assert not content.is_visible(), "a solution is shown before it is asked for"
    button.click()
    content.wait_for(state="visible")
    assert solution.locator("div.cell").first.is_visible()
    # the exercise's question and how to practise it stay open
    exercise = page.locator("div.exercise").first
    assert exercise.is_visible()
    assert "fde practice" in exercise.inner_text()


def test_searching_lei_lands_on_the_reference_data_lesson(page, base):
    page.goto(base + "index.html")
    page.keyboard.press("Control+k")
    field = page.locator("dialog#pst-search-dialog input[name='q']")
    field.wait_for(state="visible")
    field.fill("LEI")
    field.press("Enter")
    page.wait_for_url(re.compile(r"search\.html\?q=LEI"))
    first = page.locator("#search-results li a").first
    first.wait_for(state="visible", timeout=ms(30))
    assert "Reference data" in first.inner_text()
    first.click()
    page.wait_for_url(re.compile(r"05_refdata/01_security_master\.html"))
    assert "GLEIF" in page.inner_text("main")


def test_next_and_previous_walk_a_folder_to_its_end(page, base):
    lessons = folder_lessons(FOLDER)
    assert len(lessons) >= 3
    page.goto(base + lessons[0])
    seen = [lessons[0]]
    while True:
        target = page.locator("a.right-next").get_attribute("href") or ""
        if "/" in target:
            break  # the next page is in another folder (../03_etl/...): this is the folder's end
        page.locator("a.right-next").click()
        page.wait_for_load_state()
        seen.append(Path(page.url.split("?")[0]).parent.name + "/" + Path(page.url.split("?")[0]).name)
    assert seen == lessons
    page.locator("a.left-prev").click()
    page.wait_for_load_state()
    assert page.url.endswith(lessons[-2])
