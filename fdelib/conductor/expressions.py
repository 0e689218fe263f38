"""Conductor's input expressions: ``${workflow.input.x}``, ``${ref.output.a.b[0]}``.

A task's ``inputParameters`` are a JSON template. Every string in it may hold
expressions; a string that *is* one expression becomes the value it points to (any JSON
type), a string with text around expressions becomes text. A path that leads nowhere
gives ``null``, as in Conductor. The document the paths are read from has one entry
``workflow`` (input, output, workflowId, correlationId, variables, ...) and one per task
reference name (input, output, status, taskId, ...).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

EXPRESSION = re.compile(r"\$\{([^${}]+)\}")
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def resolve(template: Any, document: Mapping[str, Any]) -> Any:
    """``template`` with every expression replaced by its value in ``document``."""
    if isinstance(template, str):
        return _resolve_string(template, document)
    if isinstance(template, Mapping):
        return {key: resolve(value, document) for key, value in template.items()}
    if isinstance(template, list):
        return [resolve(value, document) for value in template]
    return template


def lookup(path: str, document: Mapping[str, Any]) -> Any:
    """The value at ``path`` (dots and ``[i]`` indices), or None when there is none."""
    value: Any = document
    for key, index in _STEP.findall(path.strip()):
        if key:
            if not isinstance(value, Mapping) or key not in value:
                return None
            value = value[key]
        else:
            if not isinstance(value, list) or int(index) >= len(value):
                return None
            value = value[int(index)]
    return value


def _resolve_string(text: str, document: Mapping[str, Any]) -> Any:
    whole = EXPRESSION.fullmatch(text)
    if whole:
        return lookup(whole.group(1), document)

    def render(match: re.Match) -> str:
        value = lookup(match.group(1), document)
        if isinstance(value, bool):
            return "true" if value else "false"
        return "" if value is None else str(value)

    return EXPRESSION.sub(render, text)
