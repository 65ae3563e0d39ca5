"""OpenHands LLM call logs: one call per file, grouped into sessions by the conversation they continue."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import real_data_path
from tests.importers import samples
from tests.importers.support import assert_adds_up, calls, close_to, cost_total, run, write_json
from tokenomy.pricing import Pricer
from tokenomy.store import DuckDBStore

SYSTEM = {"role": "system", "content": [{"type": "text", "text": "You are OpenHands."}]}


def _conversation(task: str, replies: list[str], first_id: str, start: float) -> list[dict[str, Any]]:
    """The logs of one conversation: each call's prompt repeats the turns before it."""
    logs = []
    messages: list[dict[str, Any]] = [SYSTEM, {"role": "user", "content": [{"type": "text", "text": task}]}]
    for n, reply in enumerate(replies):
        rid = f"{first_id}-{n}"
        log = samples.openhands_log(rid, list(messages), reply, at=start + 10 * n)
        logs.append(log)
        call = log["response"]["choices"][0]["message"]["tool_calls"][0]
        messages += [
            {"role": "assistant", "content": [{"type": "text", "text": reply}], "tool_calls": [call]},
            {
                "role": "tool",
                "tool_call_id": call["id"],
                "name": "terminal",
                "content": [{"type": "text", "text": "ok"}],
            },
        ]
    return logs


def test_logs_group_into_their_conversations(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    first = _conversation("Create hello.py", ["Let me look.", "Writing it.", "Done."], "a", 1767225600.0)
    second = _conversation("Create hello.py", ["I will check first."], "b", 1767229200.0)
    folder = tmp_path / "logs"
    folder.mkdir()
    for n, log in enumerate(reversed(first + second)):  # any order of files
        write_json(folder / f"{n:02d}.json", log)
    summary = run(store, pricer, folder)
    assert (summary.calls, summary.sessions, summary.rejected) == (4, 2, 0)
    stored = calls(store)
    sessions = {prefix: {c.session_id for i, c in stored.items() if i.startswith(prefix)} for prefix in "ab"}
    assert len(sessions["a"]) == len(sessions["b"]) == 1
    assert sessions["a"] != sessions["b"]  # the same task, run twice: two sessions
    assert [stored[f"a-{n}"].step for n in range(3)] == [1, 2, 3]
    call = stored["a-1"]
    assert (call.provider, call.request_model, call.response_model) == (
        "anthropic",
        "claude-sonnet-4-20250514",
        "claude-sonnet-4-20250514",
    )
    assert (call.usage.input_uncached, call.usage.cache_read, call.usage.cache_write_5m) == (200, 600, 200)
    assert (call.ended_at, call.latency_ms) == (datetime(2026, 1, 1, 0, 0, 10), 2500.0)
    assert call.started_at == datetime(2026, 1, 1, 0, 0, 7, 500000)
    assert (call.context_window, call.max_output_tokens, call.n_messages) == (200000, 4096, 4)
    assert call.provider_reported_cost == Decimal("0.00273")
    assert (call.attribution.agent, call.attribution.tags) == ("Agent", {"agent": "Agent"})
    assert [t.name for t in call.tool_uses] == ["terminal"]
    for each in stored.values():
        assert_adds_up(each)


def test_a_log_without_a_response_is_rejected(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    log = samples.openhands_log("x", [], "hi", at=1.0)
    log["response"] = "oops"
    summary = run(store, pricer, write_json(tmp_path / "bad.json", log), fmt="openhands")
    assert (summary.calls, summary.rejected) == (0, 1)
    assert (summary.files[0].errors[0].record, summary.files[0].errors[0].field) == (1, "response")


@pytest.mark.realdata
def test_real_logs_match_their_recorded_cost(store: DuckDBStore, pricer: Pricer) -> None:
    folder = real_data_path("trajectories", "openhands-sdk-llm-logs")
    summary = run(store, pricer, folder)
    assert (summary.calls, summary.sessions, summary.rejected, summary.unpriced) == (10, 2, 0, 0)
    stored = list(calls(store).values())
    steps: dict[str | None, list[int]] = {}
    for call in stored:
        assert_adds_up(call)
        steps.setdefault(call.request_model, []).append(call.step or 0)
        # OpenHands logged LiteLLM's float cost; ours is exact: they agree to 1e-9 relative (float noise),
        # but for DeepSeek, whose calls ran at 19:44 UTC, in its off-peak hours (16:30-00:30) at half
        # the peak rates: LiteLLM priced them at the peak, tokenomy at the start time's rates
        recorded = call.provider_reported_cost
        assert recorded is not None
        half = call.request_model == "deepseek-chat"
        assert close_to(cost_total(call), recorded / 2 if half else recorded)
    assert sorted(steps["claude-sonnet-4-20250514"]) == [1, 2, 3, 4, 5, 6]
    assert sorted(steps["deepseek-chat"]) == [1, 2, 3, 4]
    deepseek = next(c for c in stored if c.id == "3abb3846-51f4-4f6b-b855-0ec3efae98af")
    assert (deepseek.usage.input_uncached, deepseek.usage.cache_read, deepseek.usage.output_total) == (
        39,
        7872,
        59,
    )
    # DeepSeek's price before 2025-09-05, off-peak (the call started at 19:44 UTC): $0.135/M miss,
    # $0.035/M hit, $0.55/M output, half the peak's $0.27, $0.07 and $1.10
    assert deepseek.started_at is not None
    assert deepseek.started_at.hour == 19
    assert cost_total(deepseek) == Decimal("0.000313235")
    assert deepseek.cost is not None
    assert not deepseek.cost.estimated
