"""Retry and correction loops: re-asked steps whose earlier answers were thrown away."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from tests.analysis.waste.factory import Conversation, detect
from tokenomy.analysis.waste.retry_loop import RetryLoop
from tokenomy.schema import Status, WasteEffect, WasteRole


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


def test_an_identical_prompt_sent_again_after_an_answer_is_a_retry(tmp_path: Path) -> None:
    chat = Conversation("s1")
    chat.ask("c0", ("hello", 30))
    a = chat.ask("c1", ("summarise", 200), carry=False)  # its answer is not carried forward...
    b = chat.ask("c2", ("summarise", 200))  # ...and the identical prompt goes out again
    found = detect(tmp_path, RetryLoop(), [a, b])
    assert [c.call_id for c in found.hits[0].calls if c.role is WasteRole.WASTED] == ["c1"]


def test_a_retry_after_a_rate_limit_with_backoff_is_not_a_loop(tmp_path: Path) -> None:
    chat = Conversation("s1")
    chat.ask("c0", ("hello", 30))
    limited = chat.ask("c1", ("next", 50), carry=False, status=Status.ERROR)
    retried = chat.ask("c2", ("next", 50), after=2.0)
    found = detect(tmp_path, RetryLoop(), [limited, retried])
    assert found.hits == []
    assert found.evidence["links_seen"]["resend"] == 1  # the pair was seen, and judged not waste


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
