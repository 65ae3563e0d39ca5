"""``tokenomy import``: the summary it prints, its exit codes, and its options (via click's CliRunner)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.importers import samples
from tests.importers.support import write_json, write_lines
from tokenomy.cli.importing import command
from tokenomy.store import open_store


def _invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(command, [str(a) for a in args], catch_exceptions=False)


def _row(output: str, name: str) -> str:
    """The value cell of a summary row."""
    match = re.search(rf"│ {re.escape(name)}\s+│\s+(\S.*?) │", output)
    assert match, f"no row {name!r} in:\n{output}"
    return match.group(1)


def test_summary_values(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    write_json(logs / "spend.json", [samples.spend_log("a"), samples.spend_log("b", session_id="sess-2")])
    write_json(logs / "trace.json", samples.agent_trace())
    db = tmp_path / "t.duckdb"
    result = _invoke(logs, "--db", db)
    assert result.exit_code == 0, result.output
    out = result.output
    assert _row(out, "files") == "2"
    assert _row(out, "calls stored") == "4"
    assert _row(out, "duplicates skipped") == "0"
    assert _row(out, "sessions") == "3"
    assert _row(out, "tokens cache_read") == "2,050 (3 of 4 calls)"  # 2 x 1000 (LiteLLM) + 50 (OTel)
    assert _row(out, "tokens cache_write_5m") == "200 (2 of 4 calls)"  # the OTel spans leave it unknown
    assert _row(out, "tokens output_visible") == "—"  # no call reported its output split
    assert _row(out, "calls with usage unknown") == "4"
    assert _row(out, "tokens input total") == "2,700"  # 2 x 1200 + 200 + 100
    assert _row(out, "tokens output total") == "190"  # 2 x 80 + 20 + 10
    assert _row(out, "unpriced calls") == "0"
    assert _row(out, "rejected records") == "0"
    # 2 x $0.002175 (claude-sonnet-4, see test_litellm) + $0.0006375 + $0.00035 (gpt-4o), shown to 6 places
    assert _row(out, "cost (priced calls)") == "$0.005338"
    assert re.search(r"│ litellm\s+│\s+1 │\s+2 │", out)
    assert re.search(r"│ otlp\s+│\s+1 │\s+2 │", out)
    with open_store(db) as store:
        assert store.count() == 4

    assert "already stored" not in " ".join(out.split())
    again = _invoke(logs, "--db", db)
    assert again.exit_code == 0
    assert (_row(again.output, "calls stored"), _row(again.output, "duplicates skipped")) == ("0", "4")
    # "unpriced calls 0" beside 4 skipped read as if they had been priced again: the note says not
    assert (
        "note: 4 record(s) were skipped as duplicates (their id stored already, or repeated in these files): "
        "the first record of each id is kept as it was stored, not replaced by a later line nor priced again"
    ) in " ".join(again.output.split())


def test_unknown_usage_is_shown_as_unknown_and_counted(tmp_path: Path) -> None:
    """An OpenAI stream logged without usage and LiteLLM rows without token counts: a figure no call
    reported is "—", one some calls reported says how many, and the calls are counted, never as 0."""
    bare = json.dumps({"user_api_key_team_alias": "search"})  # a spend log without its usage object
    rows = write_json(
        tmp_path / "rows.json",
        [
            samples.spend_log("full"),  # every input bucket; its output split is unknown
            samples.spend_log("flat", metadata=bare),  # the totals only
            samples.spend_log(
                "none", metadata=bare, prompt_tokens=None, completion_tokens=None, total_tokens=None
            ),
        ],
    )
    stream = write_lines(tmp_path / "stream.jsonl", samples.openai_chunks()[:-1])  # without include_usage
    result = _invoke(rows, stream, "--db", tmp_path / "t.duckdb")
    assert result.exit_code == 0, result.output
    out = result.output
    assert _row(out, "calls stored") == "4"
    assert _row(out, "calls with usage unknown") == "4"
    assert _row(out, "tokens output_visible") == "—"  # no call reported it: never 0
    assert _row(out, "tokens reasoning") == "—"
    assert re.search(r"│ tokens cache_read\s+│\s+1,000 \(1 of 4 calls\) │", out)
    assert re.search(
        r"│ tokens input total\s+│\s+2,400 \(2 of 4 calls\) │", out
    )  # the stream's prompt: unknown
    assert re.search(r"│ tokens output total\s+│\s+161 \(3 of 4 calls\) │", out)  # 2 x 80 + 1 counted
    assert "note: 4 call(s) did not report all of their usage: a token figure is the sum" in out


def test_a_summary_with_every_figure_reported_has_no_usage_note(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "calls.jsonl", [samples.native_call("n-1"), samples.native_call("n-2")])
    result = _invoke(path, "--team", "search", "--db", tmp_path / "t.duckdb")  # read through the sink
    assert result.exit_code == 0, result.output
    assert _row(result.output, "tokens input total") == "200"
    assert _row(result.output, "tokens reasoning") == "0"  # reported as 0 by both calls
    assert _row(result.output, "calls with usage unknown") == "0"
    assert "did not report all of their usage" not in result.output


def test_native_files_on_the_fast_path_count_their_unknown_usage_too(tmp_path: Path) -> None:
    """The store's fast path counts, in its own query, the calls that left a figure unreported: a
    figure only some reported says so, one none reported is "—", never 0."""
    known = samples.native_call("n-1")
    no_cache = samples.native_call("n-2", usage={"input_uncached": 50, "output_visible": 5, "reasoning": 0})
    nothing = samples.native_call("n-3", usage={})
    path = write_lines(tmp_path / "calls.jsonl", [known, no_cache, nothing])
    result = _invoke(path, "--db", tmp_path / "t.duckdb")
    assert result.exit_code == 0, result.output
    assert _row(result.output, "calls stored") == "3"
    assert _row(result.output, "tokens input_uncached") == "150 (2 of 3 calls)"
    assert _row(result.output, "tokens cache_read") == "0 (1 of 3 calls)"
    assert _row(result.output, "tokens output total") == "15 (2 of 3 calls)"
    assert _row(result.output, "calls with usage unknown") == "2"
    assert "note: 2 call(s) did not report all of their usage" in result.output


def test_rejected_records_and_failed_files_exit_1(tmp_path: Path) -> None:
    rows = write_lines(
        tmp_path / "rows.jsonl", [samples.spend_log("a"), samples.spend_log("b", startTime="soon")]
    )
    empty = tmp_path / "empty.json"
    empty.write_text("")
    result = _invoke(rows, empty, "--db", tmp_path / "t.duckdb")
    assert result.exit_code == 1
    assert _row(result.output, "calls stored") == "1"
    assert _row(result.output, "rejected records") == "1"
    assert _row(result.output, "failed files") == "1"
    assert "1 file(s) failed, 1 record(s) rejected" in result.output
    assert f"{empty}: empty file: nothing to import" in result.output
    assert f"{rows}:2 startTime: not an ISO 8601 time: 'soon'" in result.output


def test_strict_aborts_the_file(tmp_path: Path) -> None:
    rows = write_lines(tmp_path / "rows.jsonl", [samples.spend_log("a"), "{oops", samples.spend_log("c")])
    result = _invoke(rows, "--strict", "--db", tmp_path / "t.duckdb")
    assert result.exit_code == 1
    assert _row(result.output, "calls stored") == "0"
    assert "stopped at the first bad record (--strict)" in result.output


def test_attribution_tags_model_and_content_options(tmp_path: Path) -> None:
    path = write_json(tmp_path / "chat.json", samples.transcript())
    db = tmp_path / "t.duckdb"
    result = _invoke(
        path,
        "--db",
        db,
        "--model",
        "gpt-4o",
        "--team",
        "support",
        "--feature",
        "orders",
        "--tag",
        "env=prod",
        "--tag",
        "run=7",
        "--capture-content",
        "--format",
        "transcript",
        "-q",
    )
    assert result.exit_code == 0, result.output
    with open_store(db) as store:
        stored = list(store.iter_calls())
    assert len(stored) == 3
    for call in stored:
        assert (call.request_model, call.attribution.team, call.attribution.feature) == (
            "gpt-4o",
            "support",
            "orders",
        )
        assert call.attribution.tags == {"env": "prod", "run": "7"}
        assert call.content is not None
        assert call.content.prompt


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "csv"], "Invalid value for '--format'"),
        (["--tag", "novalue"], "expected KEY=VALUE"),
        ([], "Missing argument"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    path = write_json(tmp_path / "rows.json", [samples.spend_log("a")])
    paths = [str(path)] if args else []
    result = CliRunner().invoke(command, [*paths, *args, "--db", str(tmp_path / "t.duckdb")])
    assert result.exit_code == 2
    assert message in result.output


def test_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(command, [str(tmp_path / "nope.json")])
    assert result.exit_code == 2
    assert "does not exist" in result.output
