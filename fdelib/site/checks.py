"""The built site, checked as a reader would meet it: every internal link and image resolves
(anchors included), every lesson has its page, and no file holds the building machine's
absolute paths or a secret. :func:`check` returns the problems, each naming the file."""

from __future__ import annotations

import dataclasses
import html
import posixpath
import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlsplit

TEXT_SUFFIXES = {".html", ".js", ".css", ".txt", ".json", ".svg", ".xml", ".ipynb", ".md"}


# Sphinx writes every attribute in double quotes: regular expressions read its pages ten times
# faster than an HTML parser, which matters on a site of 10 MB checked on every build
_TAG = re.compile(r"<(a|link|img|script|source|iframe)\b([^>]*)>", re.IGNORECASE)
_URL = re.compile(r"\b(href|src)=\"([^\"]*)\"")
_ID = re.compile(r"\bid=\"([^\"]*)\"")
_NAME = re.compile(r"<a\b[^>]*\bname=\"([^\"]*)\"")


@dataclasses.dataclass
class Page:
    ids: set[str]
    links: list[tuple[str, str]]  # (tag, url)


def parse(path: Path) -> Page:
    text = path.read_text(errors="replace")
    ids = {html.unescape(m) for m in _ID.findall(text)} | {html.unescape(m) for m in _NAME.findall(text)}
    links = []
    for tag, attributes in _TAG.findall(text):
        tag = tag.lower()
        for attribute, url in _URL.findall(attributes):
            if (attribute == "href") == (tag in ("a", "link")):
                links.append((tag, html.unescape(url)))
    return Page(ids, links)


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
