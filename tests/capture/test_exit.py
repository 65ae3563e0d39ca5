"""At exit the sink delivers what is left (atexit), even for a script that ends right after its call."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.capture.support import run_python
from tokenomy.store import open_store

pytestmark = pytest.mark.integration

SCRIPT = textwrap.dedent(
    """
    import sys
    from openai import OpenAI
    import tokenomy
    from tokenomy.mockllm import run_in_thread

    tokenomy.configure(sys.argv[1], spool_dir=sys.argv[2], flush_interval=3600)
    mock = run_in_thread()
    client = tokenomy.instrument(OpenAI(base_url=mock.openai_base_url, api_key="test"))
    with tokenomy.context(session="short-script"):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    print(tokenomy.sink_stats().enqueued)
    """
)


def _run(sink: str, spool: Path) -> str:
    done = run_python("-c", SCRIPT, sink, str(spool))
    assert "could not" not in done.stderr
    return done.stdout.strip()


def test_a_script_that_exits_right_after_its_call_still_stores_it(tmp_path: Path) -> None:
    db = tmp_path / "exit.duckdb"
    assert _run(f"duckdb:{db}", tmp_path / "spool") == "1"
    with open_store(db, read_only=True) as store:
        (call,) = list(store.iter_calls())
    assert (call.session_id, call.step, call.usage.output_total) == ("short-script", 1, 16)
    assert call.cost is not None
    assert call.cost.total is not None


def test_at_exit_a_down_target_leaves_the_events_in_the_spool(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    assert _run("http://127.0.0.1:9", spool) == "1"  # nothing listens on port 9
    files = list(spool.rglob("*.ndjson"))
    assert len(files) == 1
    assert b'"session_id":"short-script"' in files[0].read_bytes()


HALF_READ = textwrap.dedent(
    """
    import sys
    import anthropic
    import openai
    import tokenomy
    from tokenomy.mockllm import MockLLMConfig, run_in_thread

    tokenomy.configure(sys.argv[1], spool_dir=sys.argv[2], flush_interval=3600)
    mock = run_in_thread(MockLLMConfig(seed=5))
    chatgpt = tokenomy.instrument(openai.OpenAI(base_url=mock.openai_base_url, api_key="k", max_retries=0))
    claude = tokenomy.instrument(anthropic.Anthropic(base_url=mock.base_url, api_key="k", max_retries=0))
    LONG = {"X-Mock-Output-Tokens": "40", "X-Mock-Chunk-Delay-Ms": "2"}
    HI = [{"role": "user", "content": "hi"}]

    def half(stream, events):
        for number, _ in enumerate(stream):
            if number == events:
                return stream

    with tokenomy.context(session="chat"):
        chat = half(
            chatgpt.chat.completions.create(model="gpt-4o", messages=HI, stream=True, extra_headers=LONG), 3
        )
    with tokenomy.context(session="messages"):
        messages = half(
            claude.messages.create(
                model="claude-sonnet-4-5", max_tokens=100, messages=HI, stream=True, extra_headers=LONG
            ),
            5,
        )
    with tokenomy.context(session="completions"):
        legacy = half(
            chatgpt.completions.create(
                model="gpt-3.5-turbo-instruct", prompt="hi", stream=True, extra_headers=LONG
            ),
            3,
        )
    with tokenomy.context(session="raw"):
        raw = chatgpt.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=HI, stream=True, extra_headers=LONG
        )
        lines = half(raw.http_response.iter_lines(), 6)
    if sys.argv[3] == "close":  # what the same calls record when closed half way, for comparison
        for stream in (chat, messages, legacy, lines):
            stream.close()
    """
)


def _half_read(tmp_path: Path, mode: str) -> dict[str, tuple[Any, ...]]:
    db = tmp_path / f"{mode}.duckdb"
    done = run_python("-c", HALF_READ, f"duckdb:{db}", str(tmp_path / "spool"), mode)
    assert "dropped" not in done.stderr
    assert "could not" not in done.stderr
    with open_store(db, read_only=True) as store:
        calls = list(store.iter_calls())
    return {
        call.session_id or "": (
            call.status,
            call.streamed,
            call.usage.kind,
            call.usage.input_total,
            call.usage.output_total,
        )
        for call in calls
    }


def test_streams_left_half_read_at_exit_are_recorded_as_if_closed_there(tmp_path: Path) -> None:
    """A script that leaves streams half read in its globals and exits: each one is recorded at exit
    (before, they were freed only at the interpreter's teardown, after the sink had shut down, and
    lost), exactly as when it is closed at that point: cancelled, with what was read."""
    left = _half_read(tmp_path, "exit")
    closed = _half_read(tmp_path, "close")
    assert sorted(left) == ["chat", "completions", "messages", "raw"]
    # the raw bytes are kept as the network chunks came, which differ from run to run
    assert {name: row for name, row in left.items() if name != "raw"} == {
        name: row for name, row in closed.items() if name != "raw"
    }
    assert left["raw"][:4] == closed["raw"][:4]
    for status, streamed, _, _, output in left.values():
        assert (status, streamed) == ("cancelled", True)
        assert output is not None
        assert 0 < output < 40


AGENT_AT_EXIT = """
import sys, weakref
class Early:
    pass
early = Early()
weakref.finalize(early, lambda: None)  # the finalizers' exit hook registered before tokenomy's
import tokenomy
tokenomy.configure(sys.argv[1])

@tokenomy.context(agent="planner", session="s-exit")
def plan():
    return (n for n in range(3))

held = plan()  # the work it returned, still held at exit
next(held)
"""


def test_an_agent_whose_returned_work_is_held_at_exit_is_stored(tmp_path: Path) -> None:
    """Its agent span was sent by a finalizer run after the sinks shut down (when the finalizers'
    exit hook came first), and dropped."""
    db = tmp_path / "exit.duckdb"
    run_python("-c", AGENT_AT_EXIT, f"duckdb:{db}")
    with open_store(db, read_only=True) as store:
        rows = store.query("SELECT name, session_id FROM spans").to_pylist()
    assert rows == [{"name": "invoke_agent planner", "session_id": "s-exit"}]
