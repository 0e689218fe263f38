"""The built site, checked as a reader would meet it: every internal link and image resolves
(anchors included), every lesson has its page, and no file holds the building machine's
absolute paths or a secret. :func:`check` returns the problems, each naming the file."""

from __future__ import annotations

import html.parser
import posixpath
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlsplit

TEXT_SUFFIXES = {".html", ".js", ".css", ".txt", ".json", ".svg", ".xml", ".ipynb", ".md"}


class _Page(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[tuple[str, str]] = []  # (tag, url)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for key in ("id", "name"):
            if values.get(key) and (key == "id" or tag == "a"):
                self.ids.add(str(values[key]))
        if tag in ("a", "link") and values.get("href"):
            self.links.append((tag, str(values["href"])))
        if tag in ("img", "script", "source", "iframe") and values.get("src"):
            self.links.append((tag, str(values["src"])))


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(errors="replace"))
    return page


def internal_target(url: str) -> tuple[str, str] | None:
    """``(path, fragment)`` of a link inside the site, None for one that leaves it."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or url.startswith(("//", "data:", "javascript:", "mailto:")):
        return None
    return unquote(parts.path), unquote(parts.fragment)


def links(root: Path) -> list[str]:
    """Broken internal links and missing images of the site at ``root``, one message each."""
    root = root.resolve()
    # _static holds the theme's template fragments (Jinja macros), not pages
    pages = {p: parse(p) for p in sorted(root.rglob("*.html")) if "_static" not in p.relative_to(root).parts}
    problems = []
    for page_path, page in pages.items():
        here = page_path.relative_to(root).as_posix()
        for tag, url in page.links:
            target = internal_target(url)
            if target is None:
                continue
            path, fragment = target
            if path:
                resolved = posixpath.normpath(posixpath.join(posixpath.dirname(here), path))
                file = root / resolved
                if resolved.startswith("..") or not file.exists():
                    what = "image" if tag == "img" else "link"
                    problems.append(f"{here}: {what} to a missing file: {url}")
                    continue
                if file.is_dir():
                    file = file / "index.html"
                if tag == "img" and file.stat().st_size == 0:
                    problems.append(f"{here}: empty image: {url}")
            else:
                file = page_path
            if fragment and file.suffix == ".html" and file in pages and fragment not in pages[file].ids:
                problems.append(f"{here}: link to a missing anchor: {url}")
    return problems


def leaks(root: Path, forbidden: Iterable[str], label: str = "an absolute path") -> list[str]:
    """Files of the site holding any of ``forbidden`` (paths of this machine, secrets)."""
    needles = sorted({f for f in forbidden if f and len(f) >= 4}, key=len, reverse=True)
    problems = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix not in TEXT_SUFFIXES:
            continue
        text = path.read_text(errors="replace")
        for needle in needles:
            if needle in text:
                problems.append(f"{path.relative_to(root).as_posix()}: holds {label} of the build machine")
                break
    return problems


def missing_pages(root: Path, docnames: Iterable[str]) -> list[str]:
    return [f"{doc}: the site has no page for it" for doc in docnames if not (root / f"{doc}.html").is_file()]


def check(root: Path, docnames: Iterable[str], paths: Iterable[str], secrets: Iterable[str]) -> list[str]:
    """Everything wrong with the built site at ``root`` (empty when fine)."""
    return missing_pages(root, docnames) + links(root) + leaks(root, paths) + leaks(root, secrets, label="a secret")
