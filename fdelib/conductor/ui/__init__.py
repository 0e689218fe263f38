"""Conductor UI's views inside JupyterLab, on any Conductor (the local engine, Conductor OSS,
the compose stack's): :mod:`.api` (the REST calls, the only way it reaches a server),
:mod:`.graph` (a definition or a run drawn as SVG), :mod:`.views` (what each view shows, as
data and HTML), :mod:`.widget` (the ipywidgets explorer). ``fdelib.conductor.explorer()``
opens it; :class:`RunView` is its static view of one run, for a lesson's stored output."""

from __future__ import annotations

from .views import PRACTICE, RunView

__all__ = ["PRACTICE", "RunView"]
