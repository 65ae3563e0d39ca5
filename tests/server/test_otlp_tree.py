"""The tree rules are the importer's: same attribute names, same cleaning, same inheritance."""

from __future__ import annotations

from typing import Any

import pytest

from tokenomy.importers import otel_calls
from tokenomy.server.otlp_tree import Lineage, TreeSpan, clean


@pytest.mark.parametrize("value", ["a", "  a ", '"a"', '""', "", "   ", 5, None, ["a"], '"', ' "x" '])
def test_clean_is_the_importers_string_rule(value: Any) -> None:
    assert clean(value) == otel_calls._str({"k": value}, "k")


def _span(span_id: str, parent: str | None, **attrs: Any) -> TreeSpan:
    return TreeSpan("t", span_id, parent, "s", 1, 1, 2, attrs)


def test_values_are_inherited_from_the_nearest_ancestor_and_the_trace() -> None:
    root = _span("r", None, **{"session.id": "S", "gen_ai.agent.name": "outer"})
    agent = _span("a", "r", **{"gen_ai.agent.name": "inner"})
    leaf = _span("l", "a")
    orphan = TreeSpan("t", "o", "missing", "s", 1, 1, 2, {})
    lineage = Lineage([leaf, agent, root, orphan])
    assert lineage.inherited(leaf, "agent") == "inner"
    assert lineage.inherited(leaf, "session") == "S"
    assert lineage.inherited(orphan, "session") == "S"  # any span of the trace names it
    assert lineage.inherited(orphan, "agent") is None
    assert lineage.parents(leaf) == [agent, root]


def test_a_cycle_stops_the_walk() -> None:
    a = _span("a", "b")
    b = _span("b", "a", **{"user.id": "u"})
    lineage = Lineage([a, b])
    assert lineage.parents(a) == [b]
    assert lineage.inherited(a, "user") == "u"


def test_a_call_span_with_a_call_below_it_is_a_wrapper() -> None:
    outer = _span("o", None)
    inner = _span("i", "o")
    lone = _span("x", None)
    assert Lineage([outer, inner, lone]).wrappers([outer, inner, lone]) == {("t", "o")}
