"""Damaged gzip files: the file fails with its name and the reason, the other files of the run are imported.

A gzip file cut short (truncated) or whose checksum does not match (corrupt) is one failed file
in the summary. The records decompressed before the damage is met are kept, as for any file
that fails half way (the note says how many); with --strict nothing of it is stored.
"""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.importers import samples
from tests.importers.support import calls, run, write_json, write_lines
from tokenomy.cli.importing import command
from tokenomy.errors import ImportFileError
from tokenomy.importers import ImportSummary
from tokenomy.importers.reading import Source
from tokenomy.importers.sink import BATCH
from tokenomy.pricing import Pricer
from tokenomy.schema import Attribution
from tokenomy.store import DuckDBStore, open_store

NATIVE_LINES = 3000


def _native(n: int = NATIVE_LINES, prefix: str = "z") -> list[dict[str, Any]]:
    return [samples.native_call(f"{prefix}-{i}", usage={"input_uncached": 100 + i}) for i in range(n)]


def _gzip_lines(records: list[dict[str, Any]]) -> bytes:
    return gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode())


def _cut(data: bytes) -> bytes:
    """The first half of a gzip file's bytes."""
    return data[: len(data) // 2]


def _bad_crc(data: bytes) -> bytes:
    """The file with one byte of its CRC-32 trailer flipped: the data is whole, the checksum wrong."""
    damaged = bytearray(data)
    damaged[-8] ^= 0xFF
    return bytes(damaged)


def _complete_lines(damaged: bytes) -> list[dict[str, Any]]:
    """The complete lines zlib itself gets out of a damaged gzip file (the expected records)."""
    text = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(damaged)
    return [json.loads(line) for line in text.split(b"\n")[:-1]]


def _inputs(tmp_path: Path) -> Path:
    """A folder for the run's files (the store lives in tmp_path itself)."""
    folder = tmp_path / "mix"
    folder.mkdir()
    return folder


def _good_files(folder: Path) -> set[str]:
    """A provider body and a plain native file; returns the ids of their calls."""
    write_json(folder / "b.json", samples.openai_chat("chatcmpl-good"))
    write_lines(folder / "c.jsonl", [samples.native_call("plain-1"), samples.native_call("plain-2")])
    return {"chatcmpl-good", "plain-1", "plain-2"}


def _only_failure(summary: ImportSummary, path: Path) -> str:
    """The failed file's reason, after checking that it is the one failed file and the others are fine."""
    assert [f.path for f in summary.failed] == [str(path)]
    assert all(f.ok for f in summary.files if f.path != str(path))
    failed = summary.failed[0].failed
    assert failed is not None
    assert failed.path == str(path)
    return failed.detail


@pytest.mark.parametrize(
    "options",
    [{}, {"capture_content": True}, {"attribution": Attribution(team="infra")}],
    ids=["default", "fast-path", "attribution"],
)
def test_truncated_native_gzip_keeps_the_lines_before_the_cut_and_the_other_files(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path, options: dict[str, Any]
) -> None:
    cut = _cut(_gzip_lines(_native()))
    folder = _inputs(tmp_path)
    bad = folder / "a.jsonl.gz"
    bad.write_bytes(cut)
    good = _good_files(folder)
    kept = {r["id"] for r in _complete_lines(cut)}
    assert 0 < len(kept) < NATIVE_LINES  # the cut is inside the data

    summary = run(store, pricer, folder, **options)

    reason = _only_failure(summary, bad)
    assert reason.startswith("truncated gzip: the file ends before its compressed data does")
    assert reason.endswith("; copy the file again")
    assert set(calls(store)) == kept | good
    result = summary.files[0]
    assert (result.path, result.format, result.calls) == (str(bad), "native", len(kept))
    assert result.notes == [f"{len(kept)} calls read before the error were kept"]
    assert summary.calls == len(kept) + 3


def test_truncated_native_gzip_under_strict_stores_nothing_of_it(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    folder = _inputs(tmp_path)
    bad = folder / "a.jsonl.gz"
    bad.write_bytes(_cut(_gzip_lines(_native())))
    good = _good_files(folder)

    summary = run(store, pricer, folder, strict=True)

    assert _only_failure(summary, bad).startswith("truncated gzip:")
    assert summary.files[0].calls == 0
    assert set(calls(store)) == good


@pytest.mark.parametrize("capture", [False, True])
def test_prompt_text_before_the_damage_is_dropped_unless_captured(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path, capture: bool
) -> None:
    # Text only in the lines just before the cut: the search for it must see them.
    plain = [samples.native_call(f"t-{i}") for i in range(3000)]
    texts = [
        samples.native_call(f"t-{i}", content={"prompt": f"secret {i}", "completion": "ok"})
        for i in range(3000, 4000)
    ]
    data = _gzip_lines(plain + texts)
    cut = data[: len(data) * 7 // 8]
    folder = _inputs(tmp_path)
    bad = folder / "a.jsonl.gz"
    bad.write_bytes(cut)
    read = _complete_lines(cut)
    kept = {r["id"] for r in read}
    secrets = {r["content"]["prompt"] for r in read if "content" in r}
    assert 3000 < len(kept) < 4000
    assert len(secrets) == len(kept) - 3000

    summary = run(store, pricer, folder, capture_content=capture)

    assert _only_failure(summary, bad).startswith("truncated gzip:")
    stored = calls(store)
    assert set(stored) == kept
    prompts = {call.content.prompt for call in stored.values() if call.content is not None}
    assert prompts == (secrets if capture else set())


@pytest.mark.parametrize("lines", [500, BATCH])  # BATCH: the damage is met just after a stored batch
def test_native_gzip_with_a_wrong_checksum_fails_naming_the_crc(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path, lines: int
) -> None:
    records = _native(lines)
    folder = _inputs(tmp_path)
    bad = folder / "a.jsonl.gz"
    bad.write_bytes(_bad_crc(_gzip_lines(records)))
    good = _good_files(folder)

    summary = run(store, pricer, folder)

    reason = _only_failure(summary, bad)
    assert reason.startswith("corrupt gzip (CRC check failed): the data does not match its checksum")
    # The checksum is only checked at the end of the data: every line had been read by then.
    assert set(calls(store)) == {r["id"] for r in records} | good
    assert summary.files[0].notes == [f"{lines} calls read before the error were kept"]


def test_truncated_provider_bodies_keep_the_bodies_before_the_cut(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    bodies = [samples.openai_chat(f"chatcmpl-gz{i}", prompt=100 + i) for i in range(2000)]
    cut = _cut(_gzip_lines(bodies))
    folder = _inputs(tmp_path)
    bad = folder / "a.jsonl.gz"
    bad.write_bytes(cut)
    good = _good_files(folder)
    kept = {r["id"] for r in _complete_lines(cut)}
    assert 0 < len(kept) < len(bodies)

    summary = run(store, pricer, folder)

    assert _only_failure(summary, bad).startswith("truncated gzip:")
    assert summary.files[0].format == "provider"
    assert set(calls(store)) == kept | good
    assert summary.files[0].notes == [f"{len(kept)} calls read before the error were kept"]


def test_provider_body_with_a_wrong_checksum_fails_and_stores_nothing_of_it(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    body = json.dumps(samples.anthropic_message("msg_damaged"), indent=2).encode()
    folder = _inputs(tmp_path)
    bad = folder / "a.json.gz"
    bad.write_bytes(_bad_crc(gzip.compress(body)))
    good = _good_files(folder)

    summary = run(store, pricer, folder)

    reason = _only_failure(summary, bad)
    assert reason.startswith("corrupt gzip (CRC check failed):")
    assert set(calls(store)) == good  # one JSON document: nothing of it is usable without its end


@pytest.mark.parametrize(
    ("damage", "reason"),
    [(_bad_crc, "corrupt gzip (CRC check failed):"), (lambda d: d[:12], "truncated gzip:")],
    ids=["small-bad-crc", "cut-in-the-header"],
)
def test_a_damaged_small_gzip_is_not_called_empty(tmp_path: Path, damage: Any, reason: str) -> None:
    path = tmp_path / "one.jsonl.gz"
    path.write_bytes(damage(_gzip_lines([samples.native_call("one")])))
    with pytest.raises(ImportFileError) as error:
        Source(path).sample()
    assert error.value.detail.startswith(reason)
    assert "empty" not in error.value.detail


def test_cli_counts_the_damaged_file_as_failed_and_exits_1(tmp_path: Path) -> None:
    folder = _inputs(tmp_path)
    bad = folder / "a.jsonl.gz"
    cut = _cut(_gzip_lines(_native()))
    bad.write_bytes(cut)
    _good_files(folder)
    db = tmp_path / "mix.duckdb"

    result = CliRunner().invoke(command, ["-q", "--db", str(db), str(folder)], catch_exceptions=False)

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "1 file(s) failed, 0 record(s) rejected" in result.output
    assert f"  {bad}: truncated gzip: the file ends before its compressed data does" in result.output
    with open_store(db) as store:
        assert store.count("calls") == len(_complete_lines(cut)) + 3
