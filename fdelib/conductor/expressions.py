"""Conductor's input expressions: ``${workflow.input.x}``, ``${ref.output.items[*].id}``.

A port of ``core/.../utils/ParametersUtils.java`` (``getTaskInputV2``, ``replaceVariables``):

* a task's ``inputParameters`` are a JSON template; every string in it may hold ``${path}``
  expressions (nested ones, ``${a.${b}}``, are resolved inside out);
* a string that *is* one expression becomes the value it points to (any JSON type); a
  string with text around expressions becomes text, each value written as Java's
  ``Objects.toString`` writes it (null as ``null``, a map as ``{a=1}``), and ``$${`` then
  reads ``${`` (the escape: ``$${x}`` is never resolved);
* paths are JSONPath, read by Jayway JsonPath 2.4 with SUPPRESS_EXCEPTIONS in Conductor
  and by python-jsonpath here: ``[*]``, ``['a.b']``, ``[-1]``, slices, filters and ``..``
  work; a definite path that leads nowhere gives null, an indefinite one a list; a
  trailing ``.length()`` (or ``.size()``) counts a list's items or a map's keys;
* ``${CPEWF_TASK_ID}`` is the id of the task being scheduled (left as written where
  there is none); ``${workflow.secrets.…}`` is left as written;
* a TaskDef's ``inputTemplate`` fills keys the task does not set, and a key that resolves
  to null falls back to the template's raw value.

The document paths are read from has one entry ``workflow`` (input, output, status,
workflowId, variables, …) and one per task reference name (its latest attempt: input,
output, status, taskId, retryCount, …), as ParametersUtils builds it.

Conductor also substitutes the *server's* environment variables (``${HOME}``); the local
engine does not (the values would be the learner's machine's, not the server's).
"""

from __future__ import annotations

import copy
import functools
import math
import re
from collections.abc import Mapping
from typing import Any

import jsonpath

SYSTEM_PARAMETERS = ("CPEWF_TASK_ID", "NETFLIX_ENV", "NETFLIX_STACK")
_SIMPLE_PATH = re.compile(r"[^.\[\]()'\"*@$?,:\s]+(?:\.[^.\[\]()'\"*@$?,:\s]+|\[\d+\])*")
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_FUNCTION = re.compile(r"^(.*)\.(length|size)\(\)$")
_KEEP = object()  # "leave the expression as written"


def task_input(
    params: Mapping[str, Any] | None,
    document: Mapping[str, Any],
    task_def: Mapping[str, Any] | None = None,
    task_id: str | None = None,
) -> dict[str, Any]:
    """ParametersUtils.getTaskInputV2: ``params`` (plus the task definition's
    ``inputTemplate``) resolved against ``document``."""
    resolved_params = copy.deepcopy(dict(params or {}))
    template = (task_def or {}).get("inputTemplate") or {}
    for key, value in template.items():
        resolved_params.setdefault(key, copy.deepcopy(value))
    result = {key: resolve(value, document, task_id) for key, value in resolved_params.items()}
    if template:
        result = {key: template.get(key) if value is None else value for key, value in result.items()}
    return result


def resolve(template: Any, document: Mapping[str, Any], task_id: str | None = None) -> Any:
    """``template`` with every expression replaced by its value in ``document``."""
    if isinstance(template, str):
        return _replace(template, document, task_id, 0)
    if isinstance(template, Mapping):
        return {key: resolve(value, document, task_id) for key, value in template.items()}
    if isinstance(template, list):
        return [resolve(value, document, task_id) for value in template]
    return template


def lookup(path: str, document: Mapping[str, Any]) -> Any:
    """The value at JSONPath ``path`` (``$.`` implied), as Jayway reads it with
    SUPPRESS_EXCEPTIONS: null for a definite path that leads nowhere, a list for an
    indefinite one."""
    path = path.strip()
    function = _FUNCTION.match(path)
    if function:
        value = lookup(function.group(1), document)
        return len(value) if isinstance(value, (list, dict)) else None
    if _SIMPLE_PATH.fullmatch(path):
        return _simple_lookup(path, document)
    try:
        query = _compile(path if path.startswith("$") else "$." + path)
    except jsonpath.JSONPathError:
        return None
    found = [match.obj for match in query.finditer(document)]
    if query.singular_query():
        return found[0] if found else None
    return found


def _simple_lookup(path: str, document: Mapping[str, Any]) -> Any:
    value: Any = document
    for key, index in _STEP.findall(path):
        if key:
            if not isinstance(value, Mapping) or key not in value:
                return None
            value = value[key]
        else:
            if not isinstance(value, list) or int(index) >= len(value):
                return None
            value = value[int(index)]
    return value


@functools.lru_cache(maxsize=4096)
def _compile(path: str):
    return jsonpath.compile(path)


def _expressions(text: str) -> list[tuple[int, int]]:
    """(start, end) of every ``${…}`` not escaped as ``$${``, braces balanced (the PATTERN
    of ParametersUtils)."""
    found: list[tuple[int, int]] = []
    i = 0
    while True:
        i = text.find("${", i)
        if i < 0:
            return found
        if i > 0 and text[i - 1] == "$":
            i += 2
            continue
        depth, j = 0, i + 1
        while j < len(text):
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        if j >= len(text):
            return found  # unbalanced: not an expression
        found.append((i, j + 1))
        i = j + 1


def _replace(text: str, document: Mapping[str, Any], task_id: str | None, depth: int) -> Any:
    spans = _expressions(text)
    if not spans:
        return text.replace("$${", "${")
    values: list[Any] = []  # "" , _KEEP, the task id or a looked-up value
    for start, end in spans:
        path = str(_replace(text[start + 2 : end - 1], document, task_id, depth + 1))
        if not path.strip():
            values.append("")
        elif path.startswith("workflow.secrets."):
            values.append(_KEEP)
        elif path in SYSTEM_PARAMETERS:
            values.append(task_id if path == "CPEWF_TASK_ID" and task_id is not None else _KEEP)
        else:
            values.append(lookup(path, document))
    if len(spans) == 1 and spans[0] == (0, len(text)) and depth == 0:
        value = values[0]
        return text if value is _KEEP else value
    out, last = [], 0
    for (start, end), value in zip(spans, values, strict=False):
        out.append(text[last:start])
        out.append(text[start:end] if value is _KEEP else java_string(value))
        last = end
    out.append(text[last:])
    return "".join(out).replace("$${", "${")


def java_string(value: Any) -> str:
    """``Objects.toString(value)`` for the JSON values Jackson reads."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _java_double(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}={java_string(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(java_string(v) for v in value) + "]"
    return str(value)


def _java_double(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        text = repr(value)
        return text if "." in text or "e" in text else text + ".0"
    mantissa, exponent = f"{value:.17e}".split("e")
    mantissa = repr(float(mantissa))  # shortest digits
    short = repr(value)
    if "e" in short:
        mantissa, exponent = short.split("e")
    digits = mantissa if "." in mantissa else mantissa + ".0"
    return f"{digits}E{int(exponent)}"
