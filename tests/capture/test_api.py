"""configure, flush, shutdown, sink_stats, and the public API of tokenomy and tokenomy.capture."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import tokenomy
from tests.capture.support import MemoryTarget, call, sink_with
from tokenomy import capture
from tokenomy.capture.runtime import RUNTIME, ContentSettings, SessionSteps
from tokenomy.capture.sink import settings as sink_settings
from tokenomy.capture.sink.targets import DuckDBTarget, EventsTarget
from tokenomy.store import open_store


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No tokenomy.toml, no TOKENOMY_* settings, and no sink left behind."""
    monkeypatch.chdir(tmp_path)
    for name in ("TOKENOMY_SINK", "TOKENOMY_DB", "TOKENOMY_CAPTURE_CONTENT", "TOKENOMY_SPOOL_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    yield
    RUNTIME.shutdown(10)
    RUNTIME.content = ContentSettings()


def test_the_public_names_are_pinned() -> None:
    capture_api = [
        "charge",
        "configure",
        "context",
        "flush",
        "instrument",
        "record_outcome",
        "run_in_context",
        "shutdown",
        "sink_stats",
        "warm_up",
    ]
    assert sorted(capture.__all__) == sorted([*capture_api, "Scope", "Sink", "SinkSettings", "SinkStats"])
    assert set(capture_api) <= set(tokenomy.__all__)
    assert "OutcomeEvent" in tokenomy.__all__
    for name in capture_api:
        assert getattr(tokenomy, name) is getattr(capture, name)
    misspelled = "instrumnet"
    with pytest.raises(AttributeError, match="no attribute 'instrumnet'"):
        getattr(tokenomy, misspelled)


def test_configure_with_nothing_records_to_the_local_duckdb_file(tmp_path: Path) -> None:
    sink = capture.configure()
    assert isinstance(sink.target, DuckDBTarget)
    assert sink.target.path == (tmp_path / "tokenomy.duckdb").resolve()
    assert sink.spool is not None
    assert sink.spool.directory.parent == tmp_path / "cache" / "tokenomy" / "spool"
    sink.submit(call(1))
    assert capture.flush(30) is True
    with open_store(tmp_path / "tokenomy.duckdb", read_only=True) as store:
        assert store.count("calls") == 1


def test_configure_takes_its_settings_from_arguments_and_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOKENOMY_SINK", "http://127.0.0.1:9")
    monkeypatch.setenv("TOKENOMY_CAPTURE_CONTENT", "true")
    sink = capture.configure(batch_size=17, spool=False)
    assert isinstance(sink.target, EventsTarget)
    assert (sink.settings.batch_size, sink.spool, RUNTIME.content.capture_content) == (17, None, True)
    assert capture.configure(capture_content=False) is RUNTIME.sink
    assert RUNTIME.content.capture_content is False


def test_reconfiguring_flushes_the_previous_sink_and_shutdown_stops_recording() -> None:
    first, second = MemoryTarget(), MemoryTarget()
    old = capture.configure(sink_with(first))
    old.submit(call(1))
    capture.configure(sink_with(second))
    assert first.ids == ["c00001"]
    assert first.closed is True
    RUNTIME.sink.submit(call(2))  # type: ignore[union-attr]
    assert capture.sink_stats().enqueued == 1
    capture.shutdown(10)
    assert second.ids == ["c00002"]
    assert RUNTIME.sink is None
    assert (capture.sink_stats().enqueued, capture.sink_stats().sent) == (1, 1)  # what the shutdown did
    capture.configure(sink_with(MemoryTarget()))
    assert capture.sink_stats() == capture.SinkStats()


def test_the_counters_stay_readable_after_a_shutdown_that_left_events_in_the_spool(tmp_path: Path) -> None:
    """A job ends with ``shutdown()`` and checks the counters for what did not reach the target: they
    read all zeros after the shutdown, the events it spooled (or dropped) out of sight."""
    down = MemoryTarget()
    down.down = True
    capture.configure(sink_with(down, spool_dir=tmp_path / "spool"))
    for number in (1, 2, 3):
        assert RUNTIME.sink is not None
        RUNTIME.sink.submit(call(number))
    capture.shutdown(2)
    stats = capture.sink_stats()
    assert (stats.enqueued, stats.sent, stats.spooled, stats.dropped) == (3, 0, 3, 0)
    assert stats.spool_files >= 1
    assert capture.flush(0) is False  # and flush agrees: not everything reached the target


def test_a_sink_named_by_the_environment_is_installed_when_a_client_is_instrumented(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from openai import OpenAI

    monkeypatch.setenv("TOKENOMY_SINK", f"duckdb:{tmp_path / 'env.duckdb'}")
    monkeypatch.setattr(RUNTIME, "_config_read", False)
    capture.instrument(OpenAI(api_key="k", base_url="http://127.0.0.1:9/v1"))
    assert RUNTIME.sink is not None
    assert isinstance(RUNTIME.sink.target, DuckDBTarget)
    assert RUNTIME.sink.target.path == (tmp_path / "env.duckdb").resolve()


def test_session_steps_forget_the_oldest_sessions_past_their_limit() -> None:
    steps = SessionSteps(limit=2)
    assert [steps.take("a"), steps.take("a"), steps.take("b")] == [1, 2, 1]
    steps.open("c")
    assert (steps.knows("a"), steps.knows("b"), steps.knows("c")) == (False, True, True)
    assert steps.take("a") == 1  # forgotten: numbering starts again


def test_a_session_in_use_is_not_forgotten_for_newer_ones() -> None:
    """Sessions were forgotten oldest-opened first: a long-running agent's next call after 100,000
    short sessions was step 1 again, and its outcome was taken for a call's."""
    steps = SessionSteps(limit=3)
    assert [steps.take("long"), steps.take("long")] == [1, 2]
    steps.open("a")
    steps.open("b")
    assert steps.take("long") == 3  # used again: now the most recent
    steps.open("c")
    steps.open("d")
    assert (steps.knows("long"), steps.knows("a"), steps.knows("b")) == (True, False, False)
    assert steps.take("long") == 4
    steps.open("c")  # opened again: also the most recent
    steps.open("e")
    assert (steps.knows("c"), steps.knows("d")) == (True, False)


def test_the_sink_api_other_components_build_on_is_pinned() -> None:
    def params(fn: Callable[..., object]) -> list[str]:
        return list(inspect.signature(fn).parameters)

    assert params(capture.Sink) == ["target", "settings", "spool", "clock"]
    assert [params(getattr(capture.Sink, m))[1:] for m in ("submit", "flush", "shutdown", "stats")] == [
        ["item"],
        ["timeout"],
        ["timeout", "replay_spool"],
        [],
    ]
    assert params(sink_settings.target_for) == ["url", "config", "service_name", "timeout"]
    assert params(sink_settings.spool_for) == ["target", "settings"]
    assert params(sink_settings.settings_from_config) == ["config"]
    assert [f.name for f in dataclasses.fields(capture.SinkSettings)] == [
        "queue_size",
        "batch_size",
        "flush_interval",
        "spool_dir",
        "spool_max_bytes",
        "retry_initial",
        "retry_max",
        "send_timeout",
        "exit_timeout",
    ]


@pytest.mark.parametrize("bad", ["1", -1, True, float("nan"), float("inf")])
def test_a_timeout_that_is_not_seconds_is_named(bad: object) -> None:
    for waits in (capture.flush, capture.shutdown, capture.warm_up):
        said = rf"{waits.__name__}: timeout must be a finite number of seconds >= 0"
        with pytest.raises(ValueError, match=said):
            waits(bad)  # type: ignore[arg-type]


def test_a_lone_surrogate_in_a_charge_reaches_the_duckdb_store_replaced(tmp_path: Path) -> None:
    """Text cut in the middle of an emoji: the DuckDB target refused the whole batch for it."""
    db = tmp_path / "s.duckdb"
    capture.configure(f"duckdb:{db}", spool_dir=tmp_path / "spool")
    capture.charge("0.01", "tool", description="x\ud800y")
    capture.charge("0.02", "tool", description="fine")
    assert capture.flush(30) is True
    assert (capture.sink_stats().sent, capture.sink_stats().rejected) == (2, 0)
    capture.shutdown(10)
    with open_store(db) as store:
        found = store.connection.execute("SELECT description, amount FROM charges ORDER BY amount").fetchall()
    assert [(text, str(amount)) for text, amount in found] == [
        ("x\ufffdy", "0.010000000000"),
        ("fine", "0.020000000000"),
    ]
