"""``tokenomy session ID`` names the audio, image and video tokens of a call's buckets, when it has any."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.analysis.builders import call, cost
from tests.cli.collector_support import both, serve
from tokenomy.capture.sink.otlp_spans import export_request
from tokenomy.cli.main import cli
from tokenomy.schema import Usage
from tokenomy.store import open_store

AUDIO = Usage.of(
    input_uncached=1200,
    cache_read=4000,
    cache_write_5m=0,
    cache_write_1h=0,
    output_visible=300,
    reasoning=20,
    modalities={
        "input_uncached.audio": 800,
        "input_uncached.image": 85,
        "cache_read.audio": 3000,
        "output_visible.audio": 250,
    },
)
TEXT = Usage.of(
    input_uncached=1200, cache_read=4000, cache_write_5m=0, cache_write_1h=0, output_visible=300, reasoning=20
)


def _session(tmp_path: Path, usage: Usage, *args: str) -> str:
    db = tmp_path / "m.duckdb"
    with open_store(db) as store:
        store.insert_calls([call("a1", session_id="A", usage=usage, cost=cost(None))])
    result = CliRunner().invoke(cli, ["session", "A", "--db", str(db), *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_call_with_audio_names_it_in_each_bucket(tmp_path: Path) -> None:
    out = _session(tmp_path, AUDIO)
    assert (
        "in 5.2K (uncached 1.2K of which audio 800, image 85; cache read 4K of which audio 3K)"
        " · out 320 (visible 300 of which audio 250; reasoning 20)"
    ) in out


def test_a_text_only_call_shows_as_before(tmp_path: Path) -> None:
    out = _session(tmp_path, TEXT)
    assert "in 5.2K (cache read 4K) · out 320 (reasoning 20)" in out
    assert "of which" not in out


def test_the_json_tree_lists_the_modalities_of_calls_that_have_them(tmp_path: Path) -> None:
    (step,) = json.loads(_session(tmp_path, AUDIO, "--format", "json"))["steps"]
    assert step["modalities"] == dict(AUDIO.modalities)
    assert step["tokens"]["input_uncached"] == 1200


def test_the_json_tree_of_a_text_only_call_has_no_modalities_key(tmp_path: Path) -> None:
    (step,) = json.loads(_session(tmp_path, TEXT, "--format", "json"))["steps"]
    assert "modalities" not in step


def test_through_a_collector_the_tree_shows_the_modalities_the_store_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An SDK call sent as an OTLP span: ``session --server`` prints what ``session --db`` prints."""
    token = "modalities-token-0123456789abcdef"
    monkeypatch.delenv("TOKENOMY_SERVER", raising=False)
    monkeypatch.setenv("TOKENOMY_SERVER_TOKEN", token)
    sent = call("a1", session_id="A", usage=AUDIO, cost=cost(None), trace_id="ab" * 16, span_id="cd" * 8)
    spans = export_request([sent], service_name="svc", version="1").SerializeToString()
    with serve(tmp_path, [("/v1/traces", spans, "application/x-protobuf")], token=token) as served:
        remote, local = both(served, "session", "A")
        remote_json, local_json = both(served, "session", "A", "--format", "json")
    assert remote == local
    assert "uncached 1.2K of which audio 800, image 85; cache read 4K of which audio 3K" in remote
    assert remote_json == local_json
    assert json.loads(remote_json)["steps"][0]["modalities"] == dict(AUDIO.modalities)
