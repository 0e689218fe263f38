"""Sphinx configuration of the course website (``fde site``; :mod:`fdelib.site`).

The source folder is written by :func:`fdelib.site.builder.stage`: the home page, the lessons as
notebooks with their stored outputs (never executed here), and the generated pages. Values
that change per build (the title's run, the project's version) come in as overrides.
"""

from __future__ import annotations

project = "fde-workbench"
author = "fde-workbench contributors"
copyright = "fde-workbench contributors, MIT licence"

extensions = [
    "myst_nb",
    "sphinx_togglebutton",
    "sphinx_exercise",
    "fdelib.site.sphinxext",
]

# stored outputs only: a site build never starts a kernel, never reaches a database
nb_execution_mode = "off"
nb_merge_streams = True
# widgets need a kernel: the staging step keeps their static view and says so
nb_render_markdown_format = "myst"
nb_output_stderr = "show"
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath"]
myst_heading_anchors = 3
# not broken links: a lesson's heading levels are its author's choice, and Pygments' SQL
# lexer stumbles on PostgreSQL's $function$ quoting (the block is still shown, unhighlighted)
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header", "misc.highlighting_failure"]

html_static_path = ["_static"]
html_css_files = ["fde.css"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]

html_theme = "sphinx_book_theme"
html_title = "fde-workbench"
html_copy_source = False  # the notebooks are in the repository; the site need not ship them twice
html_show_sourcelink = False
html_last_updated_fmt = None
html_theme_options = {
    "show_toc_level": 2,
    "show_navbar_depth": 1,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "home_page_in_toc": True,
    "navigation_with_keys": False,
    "show_prev_next": True,
}
# no web fonts, no analytics, nothing fetched from elsewhere: the site works from file://
html_permalinks_icon = "#"

# a solution starts folded (sphinx-togglebutton); the question stays open
hide_solutions = False
togglebutton_hint = "Show the solution"
togglebutton_hint_hide = "Hide the solution"

nitpicky = True

# search results without the text summary: Sphinx fetches each hit's page for it, which a
# browser refuses under file:// (the site must work without a server)
html_show_search_summary = False
