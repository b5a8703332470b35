"""The house (issue 19): no circle in the import graph, and inference that depends on
neither training nor the exporter (``tools/import_cycles.py`` draws the graph)."""
from __future__ import annotations

from .conftest import load_tool


def _tool():
    return load_tool("import_cycles")


def test_the_import_graph_has_no_circle():
    assert _tool().cycles(_tool().graph()) == []


def test_the_tool_finds_a_circle_when_there_is_one():
    tool = _tool()
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert tool.cycles(edges) == [["a", "b", "c"]]


def test_inference_needs_neither_training_nor_the_exporter():
    edges = _tool().graph()
    seen, todo = set(), ["livseg.predict", "livseg.infer.cascade", "livseg.infer.stage"]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo += edges[module]
    assert not {m for m in seen if m.startswith(("livseg.train", "livseg.export"))}
    assert "livseg.models.checkpoint" in seen and "livseg.models.onnx_graph" in seen
