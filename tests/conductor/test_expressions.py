from fdelib.conductor.expressions import lookup, resolve

DOC = {
    "workflow": {"input": {"order": {"id": "A1", "items": [{"sku": "X"}]}, "n": 3, "ok": True}},
    "pay": {"output": {"status": "CHARGED"}},
}


def test_a_whole_expression_keeps_its_type():
    assert resolve("${workflow.input.n}", DOC) == 3
    assert resolve("${workflow.input.order}", DOC) == {"id": "A1", "items": [{"sku": "X"}]}


def test_paths_with_indices_and_text_around():
    assert resolve("sku ${workflow.input.order.items[0].sku} paid: ${pay.output.status}", DOC) == "sku X paid: CHARGED"
    assert resolve("flag=${workflow.input.ok}", DOC) == "flag=true"


def test_missing_paths_give_null_as_in_conductor():
    assert resolve("${nope.output.x}", DOC) is None
    assert lookup("workflow.input.order.items[5]", DOC) is None
    assert resolve("x=${nope.output.x}", DOC) == "x=null"  # Objects.toString(null)


def test_templates_nest():
    assert resolve({"a": ["${workflow.input.n}", {"b": "${pay.output.status}"}], "c": 1}, DOC) == {
        "a": [3, {"b": "CHARGED"}],
        "c": 1,
    }


# --- Conductor's ParametersUtils (core/utils/ParametersUtils.java replaceVariables), read with
# Jayway JsonPath 2.4 (Option.SUPPRESS_EXCEPTIONS): one test per divergence found ---------------
from conformance import behaves  # noqa: E402

LISTS = {"workflow": {"input": {"items": [{"id": 1}, {"id": 2}, {"id": 3}], "m": {"a.b": 5}, "none": None}}}


@behaves(
    "JSONPath wildcard `${x.items[*].id}`",
    "a list of the ids; `[]` when nothing matches",
    source="core/utils/ParametersUtils.java replaceVariables (Jayway JsonPath.read)",
)
def test_jsonpath_wildcard_gives_a_list():
    assert resolve("${workflow.input.items[*].id}", LISTS) == [1, 2, 3]
    assert resolve("${workflow.input.nothing[*].id}", LISTS) == []


@behaves(
    "JSONPath bracket key `${x['a.b']}`",
    "the value under the dotted key",
    source="core/utils/ParametersUtils.java replaceVariables (Jayway JsonPath.read)",
)
def test_jsonpath_bracket_keys_may_hold_dots():
    assert resolve("${workflow.input.m['a.b']}", LISTS) == 5


@behaves(
    "JSONPath negative index `${x.items[-1]}`",
    "the last item",
    source="core/utils/ParametersUtils.java replaceVariables (Jayway ArrayPathToken)",
)
def test_jsonpath_negative_index_counts_from_the_end():
    assert resolve("${workflow.input.items[-1].id}", LISTS) == 3


@behaves(
    "JSONPath function `${x.items.length()}`",
    "the list's length (a map's key count)",
    source="core/utils/ParametersUtils.java replaceVariables (Jayway function Length)",
)
def test_jsonpath_length_function():
    assert resolve("${workflow.input.items.length()}", LISTS) == 3
    assert resolve("n=${workflow.input.m.length()}", LISTS) == "n=1"


@behaves(
    "null inside text `x=${missing}`",
    "`x=null`",
    source="core/utils/ParametersUtils.java replaceVariables (Objects.toString)",
)
def test_null_inside_text_is_written_null():
    assert resolve("x=${workflow.input.none}, y=${workflow.input.nope}", LISTS) == "x=null, y=null"
    assert resolve("${workflow.input.nope}", LISTS) is None


@behaves(
    "escape `$${...}`",
    "kept as `${...}`, never resolved",
    source="core/utils/ParametersUtils.java PATTERN and replaceVariables",
)
def test_dollar_escape_is_kept_literally():
    assert resolve("$${workflow.input.m}", LISTS) == "${workflow.input.m}"
    assert resolve("cost: $${price} for ${workflow.input.items[0].id}", LISTS) == "cost: ${price} for 1"


@behaves(
    "server environment variables `${HOME}`",
    "null: never read",
    "the server's value",
    source="common/utils/EnvUtils.java isEnvironmentVariable",
)
def test_environment_variables_are_not_read():
    assert resolve("${HOME}", LISTS) is None
