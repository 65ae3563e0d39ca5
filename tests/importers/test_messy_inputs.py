"""Messy inputs: records of another format, cut JSON, several documents in one, skipped exchanges.

Nothing may be dropped silently: a record an importer cannot read is a rejected record naming it, a
file it cannot read is a failed file saying why, and what it skips on purpose is listed in a note.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from rich.console import Console

from tests.importers import samples
from tests.importers.support import calls, run, write_json, write_lines
from tokenomy.cli.importing import command as import_command
from tokenomy.cli.importing import print_summary
from tokenomy.errors import ImportFileError, RecordError
from tokenomy.importers.reading import Source, parse_document
from tokenomy.importers.swe_agent import NO_TIMES
from tokenomy.pricing import Pricer
from tokenomy.schema import Status
from tokenomy.store import DuckDBStore


def _generation(obs_id: str, trace_id: str) -> dict[str, object]:
    return {
        "id": obs_id,
        "traceId": trace_id,
        "type": "GENERATION",
        "model": "gpt-4o",
        "startTime": "2026-10-05T10:00:00Z",
        "usageDetails": {"input": 600, "input_cached_tokens": 400, "output": 300, "total": 1300},
    }


def test_langfuse_rejects_records_that_are_neither_trace_nor_observation(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    trace = {"id": "t1", "sessionId": "s1", "observations": [_generation("g1", "t1")]}
    path = write_lines(tmp_path / "lf.jsonl", [trace, {"foo": 1}, samples.spend_log("req-x")])
    summary = run(store, pricer, path, fmt="langfuse")
    assert (summary.calls, summary.rejected) == (1, 2)  # before: 1 call, 0 rejected, exit code 0
    first, second = summary.files[0].errors
    assert (first.record, first.field, second.record) == (2, "(record)", 3)
    assert "not a Langfuse trace" in str(first)
    assert "its keys: foo" in str(first)


def test_langfuse_observation_of_a_new_type_is_not_taken_for_a_trace(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    page = {"data": [_generation("g1", "t1"), {"id": "r1", "traceId": "t1", "type": "RERANKER"}]}
    summary = run(store, pricer, write_json(tmp_path / "obs.json", page))
    assert (summary.calls, summary.rejected) == (1, 0)
    assert calls(store)["g1"].usage.cache_read == 400


def test_langfuse_trace_list_with_observation_ids_says_how_to_export(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    listing = {"data": [{"id": "t1", "name": "run", "observations": ["g1", "g2"]}], "meta": {"page": 1}}
    summary = run(store, pricer, write_json(tmp_path / "traces.json", listing))
    assert summary.files[0].format == "langfuse"  # before: unrecognised format
    (error,) = summary.files[0].errors
    assert (error.record, error.field) == (1, "observations[0]")
    assert "GET /api/public/traces/{id}" in str(error)


def test_litellm_rejects_an_object_that_is_not_a_row(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    wrapper = {"test": "t", "response": {"id": "chatcmpl-1", "object": "chat.completion"}}
    path = write_lines(tmp_path / "spend.jsonl", [samples.spend_log("req-1"), {"foo": 1}, wrapper])
    summary = run(store, pricer, path)
    assert summary.files[0].format == "litellm"
    assert (summary.calls, summary.unpriced, summary.rejected) == (1, 0, 2)  # before: 3 calls, 2 unpriced
    assert list(calls(store)) == ["req-1"]
    assert [(e.record, e.field) for e in summary.files[0].errors] == [(2, "(record)"), (3, "(record)")]
    assert "not a LiteLLM spend-log row" in str(summary.files[0].errors[0])


def test_litellm_spend_log_failure_reads_error_information_from_its_metadata(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    metadata = {
        "error_information": {"error_class": "RateLimitError", "error_code": "429"},
        "status": "failure",
    }
    row = samples.spend_log("req-fail", status="failure", metadata=json.dumps(metadata), spend=0)
    run(store, pricer, write_lines(tmp_path / "spend.jsonl", [row]))
    call = calls(store)["req-fail"]
    assert (call.status, call.error_type, call.http_status) == (Status.ERROR, "RateLimitError", 429)


def test_recording_names_the_exchanges_it_skips(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    chat = {
        "id": "chatcmpl-r1",
        "object": "chat.completion",
        "model": "gpt-4o",
        "choices": [],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }
    interactions = [
        {
            "request": {"method": "POST", "uri": "https://api.anthropic.com/v1/files?beta=1", "body": "{}"},
            "response": {"status": {"code": 200}, "body": {"string": "{}"}},
        },
        {
            "request": {"method": "POST", "uri": "https://api.openai.com/v1/chat/completions", "body": "{}"},
            "response": {"status": {"code": 200}, "body": {"string": json.dumps(chat)}},
        },
        {
            "request": {"method": "GET", "uri": "https://api.openai.com/v1/models", "body": None},
            "response": {"status": {"code": 200}, "body": {"string": "{}"}},
        },
        {
            "request": {"method": "GET", "uri": "https://api.openai.com/v1/models", "body": None},
            "response": {"status": {"code": 200}, "body": {"string": "{}"}},
        },
    ]
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"interactions": interactions, "version": 1}), encoding="utf-8")
    summary = run(store, pricer, path)
    assert summary.calls == 1
    assert summary.files[0].notes == [
        "3 recorded exchange(s) skipped, not LLM calls with usage: POST /v1/files, GET /v1/models x2"
    ]


def test_recording_format_on_another_document_fails_the_file(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    summary = run(store, pricer, write_json(tmp_path / "x.json", {"foo": 1}), fmt="recording")
    failed = summary.files[0].failed
    assert failed is not None  # before: 0 calls, nothing rejected, nothing failed
    assert "not a cassette" in str(failed)
    assert "its keys are foo" in str(failed)


def test_cut_json_line_is_called_truncated_not_a_bare_parser_message(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "x.jsonl", [{"a": 1}, '{"b": "cut in the mid'])
    (_, first), (_, second) = Source(path).json_lines()
    assert first == {"a": 1}
    assert isinstance(second, RecordError)
    assert second.detail.endswith(
        "truncated JSON: the line ends before the value is complete"
        " (a string opened at column 7 never closes)"
    )


def test_bad_json_line_names_its_column_only(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "x.jsonl", ["{not json}", {"a": 1}])
    (_, error), _ = Source(path).json_lines()
    assert isinstance(error, RecordError)
    assert error.detail.endswith(
        "not valid JSON at column 2: Expecting property name enclosed in double quotes"
    )


def test_document_cut_inside_a_string_is_truncated() -> None:
    with pytest.raises(ImportFileError) as info:
        parse_document('{\n "a": 1,\n "b": "never ends', "x.json")
    assert str(info.value) == (
        "x.json: truncated JSON: the data ends at line 3 before the value is complete "
        "(a string opened at column 7 never closes)"
    )


def test_json_lines_given_to_a_one_document_format_say_so(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    path = write_lines(tmp_path / "rows.jsonl", [samples.spend_log("r1"), samples.spend_log("r2")])
    summary = run(store, pricer, path, fmt="openhands")
    failed = summary.files[0].failed
    assert failed is not None
    assert "a second JSON value follows the first (JSON lines?)" in str(failed)


def test_a_recorded_cost_that_is_not_a_number_is_set_aside_and_its_call_kept(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    """A recorded cost is beside the call, never its price: the call and its tokens are stored
    without it, and one note per file counts the records that carried such a value."""
    rows = [
        samples.spend_log("ok", spend=0.5),
        samples.spend_log("bad", spend="n/a"),
        samples.spend_log("worse", spend="n/a"),
    ]
    summary = run(store, pricer, write_lines(tmp_path / "spend.jsonl", rows))
    assert (summary.calls, summary.rejected) == (3, 0)
    assert summary.files[0].notes == [
        "a recorded cost that is not a number (spend) was set aside: the call is stored without it"
        " (2 records)"
    ]
    stored = {c.id: c for c in store.iter_calls()}
    assert stored["ok"].provider_reported_cost == Decimal("0.5")
    assert stored["bad"].provider_reported_cost is None
    bad = stored["bad"].cost
    assert bad is not None
    assert bad.total is not None  # priced by tokenomy, as any call
    trace = {"id": "t1", "observations": [{**_generation("g1", "t1"), "costDetails": {"input": "x"}}]}
    summary = run(store, pricer, write_json(tmp_path / "lf.json", trace))
    assert (summary.calls, summary.rejected) == (1, 0)
    assert summary.files[0].notes == [
        "a recorded cost that is not a number (observations[0].costDetails.input) was set aside: the call"
        " is stored without it"
    ]


def test_import_help_names_recordings_and_the_exit_codes() -> None:
    result = CliRunner().invoke(import_command, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "HTTP recordings (VCR cassettes, HAR)" in result.output  # before: recordings not named
    assert "Exit codes: 0 every file was read and no record was rejected; 1 a record" in result.output


def test_the_same_note_from_many_files_is_printed_once(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    first = write_json(tmp_path / "a.traj", samples.swe_trajectory())
    other = samples.swe_trajectory()
    other["history"][1]["content"] = "another task"
    second = write_json(tmp_path / "b.traj", other)
    summary = run(store, pricer, first, second, model="gpt-4o")
    assert [f.notes for f in summary.files] == [[NO_TIMES], [NO_TIMES]]
    console = Console(width=400, record=True)
    print_summary(summary, console)
    lines = [line for line in console.export_text().splitlines() if line.startswith("note:")]
    assert lines == [
        f"note: {first} and 1 more file(s): {NO_TIMES}",  # before: one line per file
        "note: 6 call(s) did not report all of their usage: a token figure is the sum over the calls that "
        'reported it ("of N calls" when not all did), "—" where none did',  # the cache split: unknown
    ]


def test_transcript_lines_with_a_bad_conversation_early_are_still_transcripts(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    good = {
        "id": "c1",
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
    }
    roleless = {"id": "c2", "messages": [{"content": "no role"}, {"role": "assistant", "content": "x"}]}
    other = {**good, "id": "c3"}
    path = write_lines(tmp_path / "chats.jsonl", [good, roleless, other])
    summary = run(store, pricer, path, model="gpt-4o")
    assert summary.files[0].format == "transcript"  # before: unrecognised format, nothing imported
    assert (summary.calls, summary.rejected) == (2, 1)  # before (with --format): 3 calls, 0 rejected
    (error,) = summary.files[0].errors
    assert (error.record, error.field) == (2, "messages[0]")
    assert {call.session_id for call in calls(store).values()} == {"c1", "c3"}


def test_a_stream_of_json_lines_cut_short_rejects_its_cut_line(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_cut",
            "type": "message",
            "model": "claude-sonnet-4-5",
            "usage": {"input_tokens": 28, "output_tokens": 1},
        },
    }
    delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}}
    lines = [{"event": "message_start", "data": start}, {"event": "content_block_delta", "data": delta}]
    path = write_lines(tmp_path / "stream.jsonl", [*lines, '{"event": "content_block_delta", "data": {"ty'])
    summary = run(store, pricer, path)
    assert summary.files[0].format == "provider"
    assert (summary.calls, summary.rejected) == (1, 1)  # before: 1 call, the cut line skipped silently
    (error,) = summary.files[0].errors
    assert error.record == 3
    assert "truncated JSON" in str(error)
