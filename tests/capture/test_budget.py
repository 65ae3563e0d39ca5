"""Capture's side of budget enforcement: the settling-only sink; calls built at once to settle tickets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokenomy.capture.budget import DiscardTarget, settling_sink
from tokenomy.capture.captured import Captured
from tokenomy.capture.client import state_for
from tokenomy.capture.sdk.openai import ADAPTER
from tokenomy.schema import Call


class Ticket:
    """Remembers what it was settled with."""

    def __init__(self) -> None:
        self.settled: list[Call | None] = []

    @property
    def changes(self) -> Mapping[str, Any]:
        return {}

    def settle(self, call: Call | None) -> None:
        self.settled.append(call)


def test_the_discard_target_keeps_nothing_and_the_sink_builds_often() -> None:
    target = DiscardTarget()
    assert target.prepare([]) == []
    target.send([])
    sink = settling_sink()
    assert isinstance(sink.target, DiscardTarget)
    assert sink.settings.flush_interval == 0.05


def test_a_captured_call_with_a_ticket_is_built_at_once_and_settles_it() -> None:
    state = state_for(object(), ADAPTER)
    route = ADAPTER.routes["/chat/completions"]
    plain = Captured(state, route, {"model": "gpt-4o-mini", "messages": []})
    assert plain.settled() is plain  # no budget: built later, on the sink's thread
    ticketed = Captured(state, route, {"model": "gpt-4o-mini", "messages": []})
    ticket = Ticket()
    ticketed.ticket = ticket
    built = ticketed.settled()
    assert isinstance(built, Call)
    assert ticket.settled == [built]
    assert built.request_model == "gpt-4o-mini"
