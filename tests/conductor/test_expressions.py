from fdelib.conductor.expressions import lookup, resolve

DOC = {"workflow": {"input": {"order": {"id": "A1", "items": [{"sku": "X"}]}, "n": 3, "ok": True}},
       "pay": {"output": {"status": "CHARGED"}}}


def test_a_whole_expression_keeps_its_type():
    assert resolve("${workflow.input.n}", DOC) == 3
    assert resolve("${workflow.input.order}", DOC) == {"id": "A1", "items": [{"sku": "X"}]}


def test_paths_with_indices_and_text_around():
    assert resolve("sku ${workflow.input.order.items[0].sku} paid: ${pay.output.status}", DOC) == \
        "sku X paid: CHARGED"
    assert resolve("flag=${workflow.input.ok}", DOC) == "flag=true"


def test_missing_paths_give_null_as_in_conductor():
    assert resolve("${nope.output.x}", DOC) is None
    assert lookup("workflow.input.order.items[5]", DOC) is None
    assert resolve("x=${nope.output.x}", DOC) == "x=null"     # Objects.toString(null)


def test_templates_nest():
    assert resolve({"a": ["${workflow.input.n}", {"b": "${pay.output.status}"}], "c": 1}, DOC) == \
        {"a": [3, {"b": "CHARGED"}], "c": 1}
