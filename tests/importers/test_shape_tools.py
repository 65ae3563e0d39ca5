"""A logged request's tool list read as the gateway reads it: its objects, whatever else it holds."""

from __future__ import annotations

from tokenomy.importers.shape import shape_of
from tokenomy.tokens import count_tools

WEATHER = {"name": "weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}


def test_entries_that_are_not_objects_are_passed_over_not_a_failed_record() -> None:
    messages = [{"role": "user", "content": "Rain in Oslo?"}]
    clean = shape_of(messages, [WEATHER], "claude-sonnet-4-5")
    mixed = shape_of(messages, [WEATHER, "junk", 7], "claude-sonnet-4-5")  # type: ignore[list-item]
    assert mixed == clean
    assert clean.tool_def_tokens == count_tools([WEATHER], "claude-sonnet-4-5").tokens
    assert (
        clean.tool_def_tokens > count_tools([{"name": "weather"}], "claude-sonnet-4-5").tokens
    )  # schema counted
