"""Chat transcripts: one call per assistant turn, counted locally and marked as counted or estimated."""

from __future__ import annotations

from pathlib import Path

from tests.importers import samples
from tests.importers.support import assert_adds_up, calls, cost_total, run, write_json, write_lines
from tokenomy import tokens
from tokenomy.importers.messages import normalize
from tokenomy.pricing import Pricer
from tokenomy.schema import Kind
from tokenomy.store import DuckDBStore


def test_each_assistant_turn_is_a_call(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    messages = samples.transcript()
    summary = run(store, pricer, write_json(tmp_path / "chat.json", messages), model="gpt-4o")
    assert (summary.calls, summary.sessions, summary.rejected) == (3, 1, 0)
    stored = sorted(calls(store).values(), key=lambda c: c.step or 0)
    assert [c.step for c in stored] == [1, 2, 3]
    normalized = [normalize(m) for m in messages]
    for call, end in zip(stored, (2, 4, 6), strict=True):
        prompt = normalized[:end]
        assert call.n_messages == end
        assert call.usage.input_total == tokens.count_messages(prompt, "gpt-4o").tokens
        assert call.request_model == "gpt-4o"
        assert call.provider == "openai"  # inferred from the model name (gpt-)
        assert_adds_up(call)
    first, second, third = stored
    assert [t.name for t in first.tool_uses] == ["order_status"]
    assert first.finish_reason == "tool_calls"
    assert first.usage.kind is Kind.ESTIMATED  # a tool call's wrapper tokens are not documented
    assert third.usage.kind is Kind.ESTIMATED  # the prompt holds a tool call
    assert second.usage.output_visible == tokens.count("Order 17 has shipped.", "gpt-4o").tokens
    assert third.usage.output_total == tokens.count("You're welcome.", "gpt-4o").tokens
    assert len({c.session_id for c in stored}) == 1
    assert all(cost_total(c) is not None for c in stored)
    assert all(c.cost is not None and c.cost.estimated for c in stored)


def test_plain_text_conversation_is_counted_exactly(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    conversation = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
    }
    run(store, pricer, write_json(tmp_path / "c.json", conversation))
    [call] = calls(store).values()
    assert (call.request_model, call.usage.kind) == ("gpt-4o-mini", Kind.COUNTED)
    assert (
        call.usage.input_total
        == tokens.count_messages([{"role": "user", "content": "Hi"}], "gpt-4o-mini").tokens
    )


def test_other_families_are_estimates_and_no_model_is_unpriced(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    claude = {
        "model": "claude-sonnet-4-20250514",
        "id": "conv-1",
        "messages": [*samples.transcript()[1:3], {"role": "assistant", "content": "ok"}],
    }
    unknown = {
        "id": "conv-2",
        "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}],
    }
    summary = run(store, pricer, write_lines(tmp_path / "convs.jsonl", [claude, unknown]))
    stored = calls(store)
    by_session = {c.session_id: c for c in stored.values() if c.step == 1}
    assert by_session["conv-1"].usage.kind is Kind.ESTIMATED
    assert by_session["conv-2"].usage.kind is Kind.ESTIMATED
    assert cost_total(by_session["conv-2"]) is None
    assert summary.unpriced == 1
    assert summary.files[0].notes == [
        "no model recorded: counts are estimates and calls are unpriced; pass --model "
        "the first time (importing the same file again skips its calls as duplicates)"
    ]


def test_a_longer_transcript_adds_only_its_new_turns(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    messages = samples.transcript()
    run(store, pricer, write_json(tmp_path / "short.json", messages[:5]), model="gpt-4o")
    summary = run(store, pricer, write_json(tmp_path / "long.json", messages), model="gpt-4o")
    assert (summary.calls, summary.duplicates) == (1, 2)
    assert len({c.session_id for c in calls(store).values()}) == 1


def test_capture_content(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    run(
        store,
        pricer,
        write_json(tmp_path / "c.json", samples.transcript()),
        model="gpt-4o",
        capture_content=True,
    )
    last = max(calls(store).values(), key=lambda c: c.step or 0)
    assert last.content is not None
    assert last.content.completion == "You're welcome."
    assert "Thanks!" in (last.content.prompt or "")


def test_a_record_without_messages_is_rejected(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    good = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
    summary = run(
        store, pricer, write_lines(tmp_path / "c.jsonl", [good, {"messages": "oops"}, good]), fmt="transcript"
    )
    assert (summary.calls, summary.duplicates, summary.rejected) == (1, 1, 1)
    error = summary.files[0].errors[0]
    assert (error.record, error.field) == (2, "messages")
