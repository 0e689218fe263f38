"""The course as a website: ``fde site`` builds it from the executed notebooks.

Static HTML under ``runs/<run>/site/`` (``runs/latest/site/index.html``) that works from the
file system and from ``fde site --serve`` on loopback: the course map, every lesson with its
prose, code and stored outputs, exercises with their solutions folded, full-text search, the
run report and the learner's progress. Sphinx with myst-nb (execution off: nothing runs,
nothing connects) and the book theme; see :mod:`fdelib.site.builder`.
"""

from __future__ import annotations

from .builder import SiteError, build, source_of
from .server import serve

__all__ = ["SiteError", "build", "serve", "source_of"]
