"""A small Sphinx extension for the course website: every external link, listed on one page.

While Sphinx reads the lessons it notes each link that leaves the site (``http``/``https``/
``mailto``), with the page it is on; the page holding the ``fde-external-links`` directive
shows them all, grouped by address, once every page has been read (parallel reads merge
their notes). QuantEcon checks such a list on every change; the site's own check
(:func:`fdelib.site.checks.check`) covers the internal links.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from docutils.parsers.rst import Directive

EXTERNAL = ("http://", "https://", "mailto:")


class external_links(nodes.General, nodes.Element):
    """Placeholder, replaced by the list when the page is written."""


class ExternalLinks(Directive):
    def run(self) -> list[nodes.Node]:
        return [external_links("")]


def collect(app, doctree) -> None:
    env = app.env
    found = getattr(env, "fde_external_links", None)
    if found is None:
        found = env.fde_external_links = {}
    docname = env.docname
    found.pop(docname, None)
    links = sorted({n["refuri"] for n in doctree.findall(nodes.reference) if n.get("refuri", "").startswith(EXTERNAL)})
    if links:
        found[docname] = links


def purge(app, env, docname) -> None:
    getattr(env, "fde_external_links", {}).pop(docname, None)


def merge(app, env, docnames, other) -> None:
    mine = getattr(env, "fde_external_links", None)
    if mine is None:
        mine = env.fde_external_links = {}
    mine.update(getattr(other, "fde_external_links", {}))


def by_address(env) -> dict[str, list[str]]:
    """``{url: [docname, ...]}`` over the whole site."""
    pages: dict[str, list[str]] = {}
    for docname, links in getattr(env, "fde_external_links", {}).items():
        for url in links:
            pages.setdefault(url, []).append(docname)
    return {url: sorted(docs) for url, docs in sorted(pages.items())}


def fill(app, doctree, fromdocname) -> None:
    env = app.env
    for placeholder in list(doctree.findall(external_links)):
        rows = nodes.bullet_list()
        for url, docs in by_address(env).items():
            item = nodes.list_item()
            para = nodes.paragraph()
            para += nodes.reference(url, url, refuri=url)
            para += nodes.Text(" — on ")
            for i, doc in enumerate(docs):
                if i:
                    para += nodes.Text(", ")
                title = env.titles[doc].astext() if doc in env.titles else doc
                para += nodes.reference(title, title, refuri=app.builder.get_relative_uri(fromdocname, doc))
            item += para
            rows += item
        if not rows.children:
            rows = nodes.paragraph(text="No page links outside the site.")
        placeholder.replace_self(rows)


def setup(app) -> dict[str, Any]:
    app.add_node(external_links)
    app.add_directive("fde-external-links", ExternalLinks)
    app.connect("doctree-read", collect)
    app.connect("env-purge-doc", purge)
    app.connect("env-merge-info", merge)
    app.connect("doctree-resolved", fill)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True, "env_version": 1}
