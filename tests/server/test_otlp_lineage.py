"""Inheritance over columns gives what the row-wise lineage gives, for every span of random trees."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tests.server.support import SpanSpec, hex_id, request_bytes
from tokenomy.importers import decode_protobuf
from tokenomy.server.otlp_columns import read_columns
from tokenomy.server.otlp_keys import CODES, VOCABULARY, VOCABULARY_ARRAY
from tokenomy.server.otlp_lineage import CycleError, inherit, parents, span_keys, wrappers
from tokenomy.server.otlp_tree import INHERITED, Lineage, TreeSpan
from tokenomy.server.otlp_values import AttributeIndex

VALUES = ["a", " b ", '"c"', "", "  ", "é", 5]


def _forest(rng: random.Random) -> list[SpanSpec]:
    specs: list[SpanSpec] = []
    for _ in range(rng.randint(1, 3)):
        trace = hex_id(rng, 16)
        members: list[SpanSpec] = []
        for _ in range(rng.randint(1, 12)):
            parent = rng.choice([None, hex_id(rng, 8), *(m.span_id for m in members)])
            keys = [k for keys in INHERITED.values() for k in keys]
            attributes = {rng.choice(keys): rng.choice(VALUES) for _ in range(rng.randint(0, 3))}
            members.append(SpanSpec(trace, hex_id(rng, 8), parent, attributes=attributes))
        specs += members
    rng.shuffle(specs)
    return specs


@pytest.mark.parametrize("seed", range(40))
def test_inheritance_is_the_lineages(seed: int) -> None:
    rng = random.Random(seed)
    specs = _forest(rng)
    resource = rng.choice([{}, {"user.id": "res-user", "deployment.environment": "prod"}])
    data = request_bytes(specs, resource, resources=rng.randint(1, 2))
    columns = read_columns(data, VOCABULARY_ARRAY)
    index = AttributeIndex(columns, len(VOCABULARY))
    parent = parents(*span_keys(columns))
    found = inherit(columns, index, CODES, parent)
    tree = [
        TreeSpan(
            s.trace_id, s.span_id, s.parent_span_id, s.name, 1, s.start_ns, s.end_ns, s.attributes, s.resource
        )
        for s in decode_protobuf(data, "test")
    ]
    lineage = Lineage(tree)
    for what in INHERITED:
        assert found.values[what].to_pylist() == [lineage.inherited(s, what) for s in tree], what
    candidates = np.array([rng.random() < 0.5 for _ in tree])
    expected = lineage.wrappers([s for s, c in zip(tree, candidates, strict=True) if c])
    assert {tree[i].key for i in np.flatnonzero(wrappers(candidates, parent))} == expected


def test_parent_links_that_loop_are_left_to_the_row_wise_rules() -> None:
    a, b = SpanSpec("01" * 16, "0a" * 8, "0b" * 8), SpanSpec("01" * 16, "0b" * 8, "0a" * 8)
    columns = read_columns(request_bytes([a, b]), VOCABULARY_ARRAY)
    parent = parents(*span_keys(columns))
    assert parent.tolist() == [1, 0]
    with pytest.raises(CycleError):
        wrappers(np.array([True, True]), parent)
    with pytest.raises(CycleError):
        inherit(columns, AttributeIndex(columns, len(VOCABULARY)), CODES, parent)
