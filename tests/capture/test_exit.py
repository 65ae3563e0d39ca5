"""At exit the sink delivers what is left (atexit), even for a script that ends right after its call."""

from __future__ import annotations

import textwrap
from pathlib import Path

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
