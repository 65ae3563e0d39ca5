from __future__ import annotations

import gzip
import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.store.factories import (
    T0,
    charge,
    fresh,
    full_call,
    minimal_call,
    native_line,
    priced_call,
    rows,
    write_jsonl,
)
from tokenomy.errors import ImportFileError
from tokenomy.native import call_to_native
from tokenomy.pricing import Pricer
from tokenomy.schema import Kind, Quality, Usage
from tokenomy.store.duckdb_import import import_line_by_line


def _good_records() -> list[Any]:
    """Varied good records: every field, nothing at all, priced on import, flagged, charges."""
    return [
        full_call("full"),
        full_call("full-no-cost", cost=None),
        minimal_call("bare"),
        priced_call("gpt", "gpt-4o"),
        priced_call("mini", "gpt-4o-mini", batch=True, latency_ms=812.0),
        priced_call("claude", "claude-sonnet-4-20250514", provider="anthropic", service_tier="priority"),
        priced_call("unknown-model", "no-such-model-9000", provider="nobody"),
        priced_call("no-time", started_at=None),
        priced_call("split", usage=Usage(input_total=5000, output_total=900, cache_read=1000)),
        priced_call(
            "flagged",
            usage=Usage.of(input_uncached=10, input_total=50, quality=(Quality.CACHE_EXCEEDS_INPUT,)),
        ),
        priced_call(
            "estimated",
            usage=Usage.of(
                input_uncached=10,
                cache_read=0,
                cache_write_5m=0,
                cache_write_1h=0,
                output_visible=5,
                reasoning=0,
                kind=Kind.ESTIMATED,
            ),
        ),
        priced_call(
            "mismatch",
            usage=Usage.of(
                input_uncached=10, cache_read=0, cache_write_5m=0, cache_write_1h=0, input_total=11
            ),
        ),
        priced_call("empty-model", request_model="", response_model="gpt-4o"),
        minimal_call("tiny", provider_reported_cost=Decimal("0.0000000000005")),
        charge("ch-1"),
        charge("ch-2", attribution=full_call().attribution, quantity=None, unit=None, description=None),
    ]


def test_fast_path_and_python_path_store_identical_rows(tmp_path: Path, pricer: Pricer) -> None:
    path = write_jsonl(tmp_path / "good.jsonl", _good_records())
    with fresh(tmp_path, "fast.duckdb") as fast, fresh(tmp_path, "slow.duckdb") as slow:
        a = fast.import_native_jsonl(path, pricer=pricer)
        b = import_line_by_line(slow, path, pricer=pricer)
        assert a.fast_path
        assert not b.fast_path
        assert (a.calls, a.charges, a.rejected) == (14, 2, 0)
        assert (a.calls, a.charges, a.sessions, a.tokens, a.cost, a.unpriced) == (
            b.calls,
            b.charges,
            b.sessions,
            b.tokens,
            b.cost,
            b.unpriced,
        )
        assert rows(fast) == rows(slow)
        assert rows(fast, "charges") == rows(slow, "charges")


def test_records_read_back_as_written(tmp_path: Path, pricer: Pricer) -> None:
    records = _good_records()
    path = write_jsonl(tmp_path / "good.jsonl", records)
    with fresh(tmp_path) as store:
        store.import_native_jsonl(path, pricer=pricer)
        stored = {c.id: c for c in store.iter_calls()}
    assert stored["full"] == records[0]  # a call that carries a cost keeps it
    bare_cost = stored["bare"].cost
    assert bare_cost is not None
    assert bare_cost.total is None
    assert "names no model" in str(bare_cost.reason)
    assert stored["tiny"].provider_reported_cost == Decimal("0.000000000001")  # 12 places, half up
    for call in records[1:13]:
        assert stored[call.id].replace(cost=None) == call.replace(cost=None)


def test_bad_records_are_reported_and_good_ones_stored(tmp_path: Path, pricer: Pricer) -> None:
    lines = [
        native_line(priced_call("ok-1")),
        '{"id": "bad-json", "usage": {',
        native_line({**call_to_native(priced_call("bad-type")), "step": "three"}),
        "",
        native_line({**call_to_native(priced_call("bad-enum")), "status": "fine"}),
        native_line({**call_to_native(priced_call("negative")), "usage": {"input_uncached": -5}}),
        "[1, 2, 3]",
        native_line(priced_call("ok-2")),
    ]
    path = write_jsonl(tmp_path / "mixed.jsonl", lines)
    with fresh(tmp_path) as store:
        result = store.import_native_jsonl(path, pricer=pricer)
        assert not result.fast_path
        assert not result.aborted
        assert (result.calls, result.rejected) == (2, 5)
        assert sorted(c.id for c in store.iter_calls()) == ["ok-1", "ok-2"]
    found = [(e.record, e.field) for e in result.errors]
    assert found == [(2, None), (3, "step"), (5, "status"), (6, "usage.input_uncached"), (7, None)]
    assert all(e.path == str(path) for e in result.errors)
    assert result.errors[0].detail == (
        "record 2: truncated JSON: line 2 ends before the value is complete "
        "(expecting property name enclosed in double quotes at column 30)."
    )
    assert "expected a whole number" in str(result.errors[1])
    assert "'fine' is not one of ok" in str(result.errors[2])


def test_strict_stores_nothing_from_a_bad_file(tmp_path: Path, pricer: Pricer) -> None:
    lines = [native_line(priced_call("ok-1")), native_line({"id": 5}), native_line(priced_call("ok-2"))]
    path = write_jsonl(tmp_path / "bad.jsonl", lines)
    with fresh(tmp_path) as store:
        result = store.import_native_jsonl(path, pricer=pricer, strict=True)
        assert result.aborted
        assert result.calls == 0
        assert store.count() == 0
        assert [(e.record, e.field) for e in result.errors] == [(2, "id")]
        # the store is still usable after the rollback
        assert (
            store.import_native_jsonl(
                write_jsonl(tmp_path / "ok.jsonl", [priced_call("z")]), pricer=pricer
            ).calls
            == 1
        )


def test_a_truncated_file_keeps_its_complete_records(tmp_path: Path, pricer: Pricer) -> None:
    text = native_line(priced_call("ok-1")) + "\n" + native_line(priced_call("ok-2"))[:57]
    path = tmp_path / "cut.jsonl"
    path.write_text(text)
    with fresh(tmp_path) as store:
        result = store.import_native_jsonl(path, pricer=pricer)
        assert result.calls == 1
        assert result.rejected == 1
    (error,) = result.errors
    assert error.record == 2
    assert "truncated" in error.detail


@pytest.mark.parametrize("at", [2, 250])  # in the first 64 KiB (which are sniffed) and after them
def test_a_line_that_is_not_utf8_costs_that_record_alone(tmp_path: Path, pricer: Pricer, at: int) -> None:
    lines = [native_line(priced_call(f"ok-{n}")).encode() for n in range(1, 300)]
    assert sum(map(len, lines[:248])) > 64 * 1024
    lines.insert(at - 1, lines[0].replace(b'"ok-1"', b'"caf\xe9"'))
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    with fresh(tmp_path) as store:
        result = store.import_native_jsonl(path, pricer=pricer)
        assert store.query("SELECT count(*) AS n FROM calls").column("n").to_pylist() == [299]
    assert (result.calls, result.rejected) == (299, 1)
    (error,) = result.errors
    assert (error.record, error.field) == (at, None)
    column = lines[at - 1].index(b"\xe9") + 1
    assert error.detail == (
        f"record {at}: not UTF-8 text at byte {column} of the line (e9; a Latin-1 or Windows file? convert it"
        " to UTF-8)"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\n\n  \n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (b'\xff\xfe{\x00"\x00', "binary"),
        (gzip.compress(b'{"id": "a"}\n', mtime=0), "gzip"),
    ],
)
def test_unimportable_files_give_one_clear_error(
    tmp_path: Path, pricer: Pricer, content: bytes, message: str
) -> None:
    path = tmp_path / "input.jsonl"
    path.write_bytes(content)
    with fresh(tmp_path) as store, pytest.raises(ImportFileError, match=message) as info:
        store.import_native_jsonl(path, pricer=pricer)
    assert str(path) in str(info.value)


def test_a_missing_file_gives_a_clear_error(tmp_path: Path, pricer: Pricer) -> None:
    with fresh(tmp_path) as store, pytest.raises(ImportFileError, match="cannot read the file"):
        store.import_native_jsonl(tmp_path / "nope.jsonl", pricer=pricer)


LENIENT = [
    ("string count", {"step": "3"}, False),
    ("fractional count", {"step": 1.5}, False),
    ("whole float count", {"step": 3.0}, True),
    ("boolean count", {"usage": {"input_uncached": True}}, False),
    ("boolean string", {"provider": True}, False),
    ("object string", {"session_id": {"a": 1}}, False),
    ("number string", {"session_id": 12345}, True),
    ("numeric id", {"id": 42}, False),
    ("epoch time", {"started_at": 1772443815}, True),
    ("offset time", {"started_at": "2026-03-02T11:30:15+02:00"}, True),
    ("negative latency", {"latency_ms": -1}, False),
    ("string latency", {"latency_ms": "12"}, False),
    ("decimal as number", {"provider_reported_cost": 0.25}, True),
    ("unknown flag", {"usage": {"quality": ["made_up"]}}, False),
    ("repeated flag", {"usage": {"quality": ["not_integer", "not_integer"]}}, True),
    ("number tag", {"attribution": {"tags": {"n": 3}}}, True),
    ("boolean tag", {"attribution": {"tags": {"b": True}}}, True),
    ("tool without name", {"tool_uses": [{"args_hash": "x"}]}, False),
    ("number hash", {"prefix_hashes": [7]}, False),
    ("unknown cost part", {"cost": {"total": "1", "parts": {"tips": "1"}}}, False),
    ("cost as number", {"cost": {"total": 0.5}}, True),
    ("null status", {"status": None}, True),
    ("provider usage names", {"usage": {"prompt_tokens": 120, "completion_tokens": 30}}, False),
    ("one unknown usage key", {"usage": {"input_uncached": 120, "output_text": 30}}, False),
    ("charge without amount", {"type": "charge", "at": "2026-03-02T09:30:15.000Z"}, False),
    ("most tokens a call holds", {"usage": {"input_uncached": 10**10}, "system_tokens": 10**10}, True),
    ("more tokens than a call holds", {"usage": {"input_uncached": 10**10 + 1}}, False),
    ("a prompt part above it", {"system_tokens": 10**10 + 1}, False),
    ("a modality above it", {"usage": {"modalities": {"input_uncached.audio": 10**10 + 1}}}, False),
    ("a request's cap is no count of tokens held", {"max_output_tokens": 2**53 - 1}, True),
    ("provider in capitals", {"provider": "OpenAI"}, True),
    ("provider alias", {"provider": "Google_AI_Studio"}, True),
    ("provider padded", {"provider": " anthropic "}, True),
    ("provider with a tab", {"provider": "openai\t"}, True),
]


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("OpenAI", "openai"),
        (" Anthropic ", "anthropic"),
        ("openai\t", "openai"),
        ("groq\x0c", "groq"),
        ("", ""),
    ],
)
def test_a_provider_is_stored_as_its_canonical_id(
    tmp_path: Path, pricer: Pricer, given: str, stored: str
) -> None:
    """As every other importer reads it: "OpenAI" made a row of its own beside "openai" in reports."""
    record = {**call_to_native(priced_call("named")), "provider": given}
    path = write_jsonl(tmp_path / "named.jsonl", [priced_call("plain"), record])
    with fresh(tmp_path) as store:
        store.import_native_jsonl(path, pricer=pricer)
        found = store.query("SELECT provider FROM calls WHERE id = 'named'").column("provider").to_pylist()
    assert found == [stored]


@pytest.mark.parametrize(("label", "change", "accepted"), LENIENT, ids=[c[0] for c in LENIENT])
def test_odd_values_are_judged_as_the_python_reader_judges_them(
    tmp_path: Path, pricer: Pricer, label: str, change: dict[str, Any], accepted: bool
) -> None:
    record = {**call_to_native(priced_call("odd")), **change}
    path = write_jsonl(tmp_path / "odd.jsonl", [priced_call("fine"), record])
    with fresh(tmp_path, "a.duckdb") as store, fresh(tmp_path, "b.duckdb") as reference:
        result = store.import_native_jsonl(path, pricer=pricer)
        expected = import_line_by_line(reference, path, pricer=pricer)
        assert result.rejected == expected.rejected == (0 if accepted else 1), label
        assert rows(store) == rows(reference), label
        assert rows(store, "charges") == rows(reference, "charges"), label
    if not accepted:
        assert not result.fast_path  # only the Python path reports records


def test_a_clean_native_file_takes_the_fast_path(tmp_path: Path, pricer: Pricer) -> None:
    records = [priced_call(f"c{i}", started_at=T0 + timedelta(minutes=i)) for i in range(50)]
    path = write_jsonl(tmp_path / "clean.jsonl", [*records, charge()])
    seen: list[tuple[int, int]] = []
    with fresh(tmp_path) as store:
        result = store.import_native_jsonl(path, pricer=pricer, progress=lambda d, t: seen.append((d, t)))
    assert result.fast_path
    assert result.calls == 50
    assert result.charges == 1
    assert result.rejected == 0
    size = path.stat().st_size
    assert seen
    assert seen[-1] == (size, size)
    assert all(0 <= d <= t == size for d, t in seen)


def test_blank_lines_and_unknown_keys_are_ignored(tmp_path: Path, pricer: Pricer) -> None:
    record = {**call_to_native(priced_call("x")), "vendor_field": {"anything": [1, 2]}}
    path = write_jsonl(tmp_path / "extra.jsonl", ["", json.dumps(record), "   "])
    with fresh(tmp_path) as store:
        result = store.import_native_jsonl(path, pricer=pricer)
    assert result.fast_path
    assert result.calls == 1


@pytest.mark.parametrize("with_charge", [False, True], ids=["calls only", "calls and a charge"])
def test_a_usage_key_tokenomy_does_not_know_is_a_rejected_record(
    tmp_path: Path, pricer: Pricer, with_charge: bool
) -> None:
    """Both surveys (a file that may hold charges is read another way) send the file to the Python
    path, which names the keys: stored with its tokens unknown, the call would cost nothing."""
    record = {**call_to_native(priced_call("odd")), "usage": {"prompt_tokens": 120, "completion_tokens": 30}}
    extra = [charge()] if with_charge else []
    path = write_jsonl(tmp_path / "odd.jsonl", [priced_call("fine"), record, *extra])
    with fresh(tmp_path) as store:
        result = store.import_native_jsonl(path, pricer=pricer)
        assert [call_id for (call_id,) in store.connection.execute("SELECT id FROM calls").fetchall()] == [
            "fine"
        ]
    assert not result.fast_path
    assert (result.calls, result.charges, result.rejected) == (1, len(extra), 1)
    error = result.errors[0]
    assert (error.record, error.field) == (2, "usage")
    assert "unknown key(s) 'prompt_tokens', 'completion_tokens'" in error.detail


def test_costs_in_the_file_are_kept_not_repriced(tmp_path: Path, pricer: Pricer) -> None:
    call = priced_call("kept")
    recorded = call.replace(cost=pricer.price(call).__class__(total=Decimal("99"), source="recorded"))
    path = write_jsonl(tmp_path / "kept.jsonl", [recorded])
    with fresh(tmp_path) as store:
        store.import_native_jsonl(path, pricer=pricer)
        (back,) = store.iter_calls()
    assert back.cost is not None
    assert back.cost.total == Decimal("99")
    assert back.cost.source == "recorded"


def test_windows_line_ends_and_a_byte_order_mark_are_read(tmp_path: Path, pricer: Pricer) -> None:
    crlf = tmp_path / "crlf.jsonl"
    crlf.write_bytes(
        (native_line(priced_call("x")) + "\r\n" + native_line(priced_call("y")) + "\r\n").encode()
    )
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + (native_line(priced_call("z")) + "\n").encode())
    with fresh(tmp_path) as store:
        first = store.import_native_jsonl(crlf, pricer=pricer)
        second = store.import_native_jsonl(bom, pricer=pricer)
        assert (first.calls, first.rejected) == (2, 0)
        assert (second.calls, second.rejected) == (1, 0)
        assert sorted(c.id for c in store.iter_calls()) == ["x", "y", "z"]


def test_a_file_of_charges_only(tmp_path: Path, pricer: Pricer) -> None:
    path = write_jsonl(tmp_path / "charges.jsonl", [charge("a"), charge("b")])
    with fresh(tmp_path) as store:
        result = store.import_native_jsonl(path, pricer=pricer)
    assert result.fast_path
    assert (result.calls, result.charges, result.cost) == (0, 2, Decimal(0))


def test_json_errors_name_the_line_and_column_in_a_full_sentence(tmp_path: Path, pricer: Pricer) -> None:
    lines = [
        native_line(priced_call("ok-1")),
        '{"id": "broken"',
        '{"id": "x", "usage": {"input_uncached": 1,, "output_visible": 2}}',
        '{"id": "x2", "model": "gpt-4o',
    ]
    path = tmp_path / "broken.jsonl"
    path.write_text("\n".join(lines) + '\n{"id": "cut", "model": "gpt')  # the last line is cut short
    with fresh(tmp_path) as store:
        result = store.import_native_jsonl(path, pricer=pricer)
    assert (result.calls, result.rejected) == (1, 4)
    assert [e.detail for e in result.errors] == [
        "record 2: truncated JSON: line 2 ends before the value is complete "
        "(expecting ',' delimiter at column 16).",
        "record 3: not valid JSON at line 3, column 43: expecting property name enclosed in double quotes.",
        "record 4: truncated JSON: line 4 ends before the value is complete "
        "(a string opened at column 23 never closes).",
        "record 5: truncated JSON: the file ends in line 5 before the value is complete "
        "(a string opened at column 24 never closes); the file looks cut short.",
    ]


def test_a_crlf_line_is_measured_without_its_line_break(tmp_path: Path, pricer: Pricer) -> None:
    path = tmp_path / "crlf.jsonl"
    path.write_bytes((native_line(priced_call("ok-1")) + '\r\n{"id": "broken"\r\n').encode())
    with fresh(tmp_path) as store:
        result = store.import_native_jsonl(path, pricer=pricer)
    (error,) = result.errors
    assert error.detail == (
        "record 2: truncated JSON: line 2 ends before the value is complete "
        "(expecting ',' delimiter at column 16)."
    )


def test_without_content_neither_path_stores_text(tmp_path: Path, pricer: Pricer) -> None:
    """``keep_content=False`` drops the prompt and completion on the fast path and on the fallback,
    whatever the spelling of the key (``"\\u0063ontent"`` is ``content`` to a JSON reader)."""
    line = native_line(full_call("escaped")).replace('"content"', '"\\u0063ontent"')
    assert '"\\u0063ontent"' in line
    good = tmp_path / "text.jsonl"
    good.write_text(native_line(full_call("plain")) + "\n" + line + "\n", encoding="utf-8")
    bad = tmp_path / "text-and-a-bad-line.jsonl"  # a bad line sends the file down the Python path
    bad.write_text(good.read_text(encoding="utf-8") + '{"id": "broken", "usage": 5}\n', encoding="utf-8")
    for path, fast_path in ((good, True), (bad, False)):
        with fresh(tmp_path, f"{path.stem}.duckdb") as store:
            result = store.import_native_jsonl(path, pricer=pricer, keep_content=False)
            assert (result.fast_path, result.calls) == (fast_path, 2)
            texts = store.query("SELECT id, prompt_text, completion_text FROM calls ORDER BY id").to_pylist()
            assert texts == [
                {"id": "escaped", "prompt_text": None, "completion_text": None},
                {"id": "plain", "prompt_text": None, "completion_text": None},
            ]
