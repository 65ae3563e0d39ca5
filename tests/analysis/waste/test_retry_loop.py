"""Retry and correction loops: re-asked steps whose earlier answers were thrown away."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from tests.analysis.waste.factory import Conversation, detect
from tokenomy.analysis.waste.retry_loop import RetryLoop
from tokenomy.schema import Status, ToolUse, Usage, WasteEffect, WasteRole


def test_a_correction_loop_wastes_every_attempt_but_the_last(tmp_path: Path) -> None:
    chat = Conversation("s1")
    first = chat.ask("c1", ("question", 300))
    bad = chat.ask("c2", ("tool-results", 900))
    fix1 = chat.reask("c3", ("your reply did not follow the format", 40))
    fix2 = chat.again("c4", ("follow the format exactly", 45), kept=True)
    after = chat.ask("c5", ("thanks", 20), after=20)
    found = detect(tmp_path, RetryLoop(), [first, bad, fix1, fix2, after])
    assert len(found.hits) == 1
    hit = found.hits[0]
    assert [(c.call_id, c.role) for c in hit.calls] == [
        ("c2", WasteRole.WASTED),
        ("c3", WasteRole.WASTED),
        ("c4", WasteRole.CONTEXT),
    ]
    wasted = [bad, fix1]
    assert hit.tokens == sum((c.usage.input_total or 0) + (c.usage.output_total or 0) for c in wasted)
    assert [c.cost for c in hit.calls[:2]] == [c.cost.total for c in wasted if c.cost]
    assert all(c.effect is WasteEffect.CALL for c in hit.calls[:2])
    # gpt-4.1-mini at $0.40 / $1.60 per million tokens; the first superseded attempt read 2,860 tokens
    # (1,200 system + 400 tools + 360 history + 900 newest) and wrote 60: $0.001144 + $0.000096
    assert hit.calls[0].tokens == 2_920
    assert hit.calls[0].cost == Decimal("0.001240000000")


def test_an_identical_prompt_sent_again_mid_run_is_a_retry(tmp_path: Path) -> None:
    chat = Conversation("s1")
    chat.ask("c0", ("hello", 30))
    a = chat.ask("c1", ("summarise", 200), carry=False)  # its answer is not carried forward...
    b = chat.ask("c2", ("summarise", 200))  # ...the identical prompt goes out again...
    c = chat.ask("c3", ("now translate it", 40))  # ...and the run carries on from the second answer
    found = detect(tmp_path, RetryLoop(), [a, b, c])
    (hit,) = found.hits
    assert [(x.call_id, x.role) for x in hit.calls] == [("c1", WasteRole.WASTED), ("c2", WasteRole.CONTEXT)]
    assert found.evidence["independent_repeats"] == 0


def test_identical_requests_that_stand_alone_are_independent_repeats(tmp_path: Path) -> None:
    # a test recording or a cache warm-up: the same request sent twice (or three times) on purpose,
    # both answers complete, nothing after them: no answer was thrown away
    for n in (2, 3):
        chat = Conversation(f"rec{n}", agent=None, feature=None, team=None, intent=None)
        calls = [chat.ask(f"r{n}-{i}", ("reply with OK", 4_000), carry=False) for i in range(n)]
        found = detect(tmp_path / str(n), RetryLoop(), calls)
        assert found.hits == []
        assert found.evidence["links_seen"]["resend"] == n - 1
        assert found.evidence["independent_repeats"] == 1


def test_identical_requests_sent_side_by_side_are_not_a_loop(tmp_path: Path) -> None:
    # best-of-n sampling inside a run: three identical requests out before any answered (each
    # takes 2 s), then the run goes on; every answer was wanted
    chat = Conversation("s1")
    first = chat.ask("c0", ("hello", 30))
    samples = [chat.ask(f"n{i}", ("propose a plan", 120), carry=False, after=0.5) for i in range(3)]
    after = chat.ask("c9", ("pick the best plan", 40), after=10)
    found = detect(tmp_path, RetryLoop(), [first, *samples, after])
    assert found.hits == []
    assert found.evidence["independent_repeats"] == 1


def test_a_billed_failure_sent_again_is_a_retry_even_at_the_end_of_a_run(tmp_path: Path) -> None:
    # a stream cut after 300 tokens of output, billed; the identical request goes out again
    chat = Conversation("s1")
    chat.ask("c0", ("hello", 30))
    billed = Usage.of(
        input_uncached=1_900,
        cache_read=0,
        cache_write_5m=0,
        cache_write_1h=0,
        output_visible=300,
        reasoning=0,
    )
    cut = chat.ask(
        "c1", ("write the report", 270), carry=False, status=Status.ERROR, http_status=200, usage=billed
    )
    again = chat.ask("c2", ("write the report", 270))
    found = detect(tmp_path, RetryLoop(), [cut, again])
    (hit,) = found.hits
    assert [(x.call_id, x.role, x.tokens) for x in hit.calls] == [
        ("c1", WasteRole.WASTED, 2_200),
        ("c2", WasteRole.CONTEXT, 0),
    ]
    assert hit.calls[0].note == (
        "attempt 1 of 2 failed; the identical prompt was sent again, without this answer in it"
    )


def test_a_retry_after_a_rate_limit_with_backoff_is_not_a_loop(tmp_path: Path) -> None:
    chat = Conversation("s1")
    chat.ask("c0", ("hello", 30))
    limited = chat.ask("c1", ("next", 50), carry=False, status=Status.ERROR)
    retried = chat.ask("c2", ("next", 50), after=2.0)
    found = detect(tmp_path, RetryLoop(), [limited, retried])
    assert found.hits == []
    assert found.evidence["links_seen"]["resend"] == 1  # the pair was seen, and judged not waste
    assert found.evidence["independent_repeats"] == 0  # a back-off retry, not a repeated request


def test_a_refused_request_logged_with_its_counted_input_is_no_waste(tmp_path: Path) -> None:
    """A 429 or 503 logged with the input counted locally (1,600 tokens) and re-sent as it should be:
    reported as a retry loop, the refused try's tokens as waste. Providers bill a refused request
    nothing."""
    counted = Usage.of(
        input_uncached=1_600, cache_read=0, cache_write_5m=0, cache_write_1h=0, output_visible=0, reasoning=0
    )
    for status in (429, 503):
        chat = Conversation("s1")
        chat.ask("c0", ("hello", 30))
        refused = chat.ask(
            "c1", ("next", 50), carry=False, status=Status.ERROR, http_status=status, usage=counted
        )
        again = chat.ask("c2", ("next", 50), after=3.0)
        then = chat.ask("c3", ("then", 40))
        assert detect(tmp_path / str(status), RetryLoop(), [refused, again, then]).hits == [], status


def test_a_conversation_that_carries_its_answers_is_not_a_loop(tmp_path: Path) -> None:
    chat = Conversation("s1")
    calls = [chat.ask(f"c{i}", (f"turn-{i}", 40 + i)) for i in range(6)]
    assert detect(tmp_path, RetryLoop(), calls).hits == []


def test_a_fixed_few_shot_history_is_not_a_loop(tmp_path: Path) -> None:
    # a stateless classifier: the same few-shot examples as history, a new item each call
    chat = Conversation("s1", history=[("example-1", 120), ("example-2", 130)])
    calls = [chat.ask(f"c{i}", (f"item-{i}", 30), carry=False) for i in range(5)]
    assert detect(tmp_path, RetryLoop(), calls).hits == []


def test_a_truncation_rerun_is_left_to_its_own_detector(tmp_path: Path) -> None:
    chat = Conversation("s1")
    chat.ask("c0", ("hello", 30))
    cut = chat.ask(
        "c1", ("write it", 60), carry=False, finish_reason="length", max_output_tokens=256, answer=256
    )
    rerun = chat.ask("c2", ("write it", 60), max_output_tokens=512, answer=400)
    assert detect(tmp_path, RetryLoop(), [cut, rerun]).hits == []


def test_equal_hashes_of_an_importer_do_not_make_different_prompts_equal(tmp_path: Path) -> None:
    # importers hash cut points that never include the last message: two steps of one run can
    # share every hash; the message count and the newest turn tell them apart
    chat = Conversation("s1")
    a = chat.ask("c1", ("observation-1", 300))
    b = chat.ask("c2", ("observation-2", 280))
    same = a.prefix_hashes[:3]
    a, b = a.replace(prefix_hashes=same), b.replace(prefix_hashes=same)
    assert detect(tmp_path, RetryLoop(), [a, b]).hits == []


def test_a_tool_result_after_a_tool_call_is_not_a_dropped_answer(tmp_path: Path) -> None:
    # some captures count an answer that is only a tool call as no history: the next prompt is the
    # previous one plus the tool's result, which looks like "answer dropped, note added"; but the
    # tool ran, so the answer was used
    chat = Conversation("s1")
    first = chat.ask("c1", ("question", 300))
    asked = chat.ask("c2", ("find the file", 120), tool_uses=[ToolUse("search", "h1")])
    result = chat.reask("c3", ("search results", 3_000), kept=True)
    found = detect(tmp_path, RetryLoop(), [first, asked, result])
    assert found.hits == []
    assert found.evidence["links_seen"]["dropped"] == 0
    # the same shape without the tool call is a correction loop
    plain = Conversation("s2")
    calls = [plain.ask("d1", ("question", 300)), plain.ask("d2", ("find the file", 120))]
    calls.append(plain.reask("d3", ("answer in JSON", 30), kept=True))
    (hit,) = detect(tmp_path / "plain", RetryLoop(), calls).hits
    assert [(c.call_id, c.role) for c in hit.calls] == [("d2", WasteRole.WASTED), ("d3", WasteRole.CONTEXT)]
