"""Reading input files: gzip is transparent, samples say what a file is, unreadable files fail in one line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.importers.support import write_json, write_lines
from tokenomy.errors import ImportFileError, RecordError, looks_binary
from tokenomy.importers.reading import Source, parse_document


def test_gzip_is_transparent_and_recognised_by_content(tmp_path: Path) -> None:
    plain = write_lines(tmp_path / "a.jsonl", [{"n": 1}, {"n": 2}])
    packed = write_lines(tmp_path / "b.data", [{"n": 1}, {"n": 2}], compress=True)
    assert not Source(plain).compressed
    assert Source(packed).compressed
    assert (
        list(Source(packed).json_lines())
        == list(Source(plain).json_lines())
        == [(1, {"n": 1}), (2, {"n": 2})]
    )


def test_sample_kinds(tmp_path: Path) -> None:
    pretty = write_json(tmp_path / "doc.json", {"a": [1, 2]})
    lines = write_lines(tmp_path / "lines.jsonl", [{"a": 1}, {"b": 2}, {"c": 3}])
    single = write_lines(tmp_path / "one.json", [{"only": True}])
    text = tmp_path / "stream.txt"
    text.write_text("event: ping\ndata: {}\n\n")
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\x0a\x05\x00\x01\x02\xff\xfe")

    assert Source(pretty).sample().kind == "json"
    assert Source(pretty).sample().first == {"a": [1, 2]}
    sample = Source(lines).sample()
    assert (sample.kind, sample.records) == ("jsonl", ({"a": 1}, {"b": 2}, {"c": 3}))
    assert Source(single).sample().kind == "json"
    assert Source(text).sample().kind == "text"
    assert Source(binary).sample().kind == "binary"


def test_json_lines_whose_first_line_is_bad_are_still_json_lines(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "x.jsonl", ['{"broken": ', {"ok": 1}, {"ok": 2}])
    assert Source(path).sample().kind == "jsonl"
    items = list(Source(path).json_lines())
    assert isinstance(items[0][1], RecordError)
    assert items[0][1].record == 1
    assert "truncated JSON" in str(items[0][1])
    assert items[1:] == [(2, {"ok": 1}), (3, {"ok": 2})]


def test_blank_lines_are_skipped_but_numbering_follows_the_file(tmp_path: Path) -> None:
    path = tmp_path / "gaps.jsonl"
    path.write_text('{"a": 1}\n\n\n{"b": 2}\n')
    assert list(Source(path).json_lines()) == [(1, {"a": 1}), (4, {"b": 2})]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"   \n\n", "empty file"),
    ],
)
def test_empty_files_fail_with_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "e.json"
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=message) as info:
        Source(path).sample()
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(str(path))


def test_truncated_json_document_says_so(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_text(json.dumps({"resourceSpans": [{"scopeSpans": []}]}, indent=1)[:-9])
    with pytest.raises(ImportFileError, match="truncated JSON"):
        Source(path).sample()


def test_invalid_json_document_names_line_and_column() -> None:
    with pytest.raises(ImportFileError, match=r"line 2, column 6"):
        parse_document('{"a": 1,\n "b" 2}', "x.json")


def test_truncated_gzip_fails_when_read(tmp_path: Path) -> None:
    data = gzip.compress(("".join(json.dumps({"n": i}) + "\n" for i in range(2000))).encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    source = Source(path)
    assert source.sample().kind == "jsonl"  # the start is readable
    cut = "truncated gzip: the file ends before its compressed data does"
    with pytest.raises(ImportFileError, match=cut):
        list(source.json_lines())


def test_progress_counts_the_bytes_on_disk(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "p.jsonl.gz", [{"n": i, "pad": "x" * 50} for i in range(500)], compress=True
    )
    seen: list[int] = []
    source = Source(path, seen.append)
    source.sample()  # sampling is not counted
    assert sum(seen) == 0
    assert len(list(source.json_lines())) == 500
    assert sum(seen) == path.stat().st_size


def test_report_fraction_reaches_the_file_size_once(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "f.jsonl", [{"n": i} for i in range(100)])
    seen: list[int] = []
    source = Source(path, seen.append)
    source.report_fraction(50, 100)
    source.report_fraction(100, 100)
    source.report_fraction(100, 100)
    assert sum(seen) == path.stat().st_size
    assert seen[0] == path.stat().st_size // 2


def test_missing_file_is_a_file_error(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="cannot read the file"):
        Source(tmp_path / "nope.json")


def test_a_document_that_is_not_utf8_is_refused_naming_the_line_and_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes('{"names":\n ["caf\u00e9"]}'.encode("latin-1"))
    source = Source(path)  # one JSON document: it cannot be read in part
    message = (
        f"{path}: line 2: not UTF-8 text at byte 7 of the line (e9; a Latin-1 or Windows file? convert it "
        "to UTF-8)"
    )
    with pytest.raises(ImportFileError) as raised:
        source.sample()
    assert str(raised.value) == message


def test_a_line_that_is_not_utf8_is_one_bad_record(tmp_path: Path) -> None:
    path = tmp_path / "lines.jsonl"
    path.write_bytes(b'{"a": 1}\r\n{"team": "caf\xe9"}\n\n{"a": 2}\r{"a": 3}\n')
    found = list(Source(path).json_lines())
    assert [number for number, _ in found] == [1, 2, 4, 5]
    assert [value for _, value in found if not isinstance(value, RecordError)] == [
        {"a": 1},
        {"a": 2},
        {"a": 3},
    ]
    bad = found[1][1]
    assert isinstance(bad, RecordError)
    assert (bad.record, bad.field) == (2, None)
    assert str(bad).endswith(
        "record 2: not UTF-8 text at byte 14 of the line (e9; a Latin-1 or Windows file? convert it to UTF-8)"
    )
    assert Source(path).sample().kind == "jsonl"


@pytest.mark.parametrize(
    ("head", "binary"),
    [
        (b"plain text\n", False),
        ('{"team": "caf\u00e9"}\n'.encode("latin-1") * 20, False),  # one byte in 17: text
        (b"\x00abc", True),
        (bytes(range(128, 256)) * 4, True),
        ("d\u00e9j\u00e0".encode()[:-1], False),  # a character cut by the sample's end
    ],
)
def test_what_looks_binary(head: bytes, binary: bool) -> None:
    assert looks_binary(head, complete=False) is binary
