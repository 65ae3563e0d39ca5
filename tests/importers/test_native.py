"""Native JSONL: the store's fast path, or line by line when attribution or content must change records."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from tests.importers import samples
from tests.importers.support import calls, run, write_lines
from tokenomy.importers.native import NativeImporter
from tokenomy.importers.reading import Source
from tokenomy.pricing import Pricer
from tokenomy.schema import Attribution
from tokenomy.store import DuckDBStore

CHARGE = {
    "type": "charge",
    "id": "ch-1",
    "amount": "0.25",
    "kind": "search",
    "at": "2026-01-01T00:00:05Z",
    "session_id": "s-native",
}


def test_fast_path_stores_calls_and_charges(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "n.jsonl", [samples.native_call("n-1"), samples.native_call("n-2"), CHARGE])
    summary = run(store, pricer, path)
    result = summary.files[0]
    assert (result.format, result.calls, result.charges, result.rejected) == ("native", 2, 1, 0)
    assert (result.session_count, summary.sessions) == (1, 1)
    assert summary.tokens["input_uncached"] == 200
    assert summary.cost > 0
    assert set(calls(store)) == {"n-1", "n-2"}
    assert store.count("charges") == 1


def test_gzip_native_goes_through_the_fast_path(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "n.jsonl.gz", [samples.native_call("g-1"), samples.native_call("g-2")], compress=True
    )
    summary = run(store, pricer, path)
    assert (summary.files[0].path, summary.calls, summary.rejected) == (str(path), 2, 0)


def test_bad_native_record_names_line_and_field(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    bad = samples.native_call("n-bad", status="exploded")
    path = write_lines(
        tmp_path / "n.jsonl.gz", [samples.native_call("n-1"), bad, samples.native_call("n-3")], compress=True
    )
    summary = run(store, pricer, path)
    assert (summary.calls, summary.rejected) == (2, 1)
    error = summary.files[0].errors[0]
    assert (error.path, error.record, error.field) == (str(path), 2, "status")


def test_attribution_fills_what_records_leave_empty(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    own = samples.native_call("n-own", attribution={"team": "search", "tags": {"tier": "gold"}})
    path = write_lines(tmp_path / "n.jsonl", [own, samples.native_call("n-bare")])
    run(store, pricer, path, attribution=Attribution(team="platform", user="ci", tags={"source": "backfill"}))
    stored = calls(store)
    assert (stored["n-own"].attribution.team, stored["n-own"].attribution.user) == ("search", "ci")
    assert stored["n-own"].attribution.tags == {"source": "backfill", "tier": "gold"}
    assert (stored["n-bare"].attribution.team, stored["n-bare"].attribution.user) == ("platform", "ci")


def test_content_is_dropped_unless_captured(pricer: Pricer, tmp_path: Path) -> None:
    from tokenomy.store import open_store

    record = samples.native_call("n-text", content={"prompt": "secret plan", "completion": "ok"})
    path = write_lines(tmp_path / "n.jsonl", [record])
    with open_store(tmp_path / "off.duckdb") as store:
        run(store, pricer, path)
        assert calls(store)["n-text"].content is None
    with open_store(tmp_path / "on.duckdb") as store:
        run(store, pricer, path, capture_content=True)
        content = calls(store)["n-text"].content
        assert content is not None
        assert content.prompt == "secret plan"


OUTCOME = {
    "type": "outcome",
    "target": "session",
    "id": "s-native",
    "success": True,
    "at": "2026-01-01T00:01:00Z",
}


def test_outcomes_are_stored_on_both_paths(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "n.jsonl", [samples.native_call("n-1"), CHARGE, OUTCOME])
    fast = run(store, pricer, path)
    assert (fast.calls, fast.charges, fast.outcomes, fast.rejected) == (1, 1, 1, 0)
    rewritten = write_lines(tmp_path / "r.jsonl", [samples.native_call("r-1"), {**OUTCOME, "id": "s-other"}])
    slow = run(store, pricer, rewritten, attribution=Attribution(team="search"))
    assert (slow.calls, slow.outcomes, slow.rejected) == (1, 1, 0)
    assert set(calls(store)) == {"n-1", "r-1"}
    assert store.events_count("outcomes") == 2


def test_outcome_and_charge_only_files_are_detected(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    outcomes = write_lines(
        tmp_path / "out.jsonl", [{**OUTCOME, "target": "call", "id": "n-1"}, {**OUTCOME, "id": "s-2"}]
    )
    summary = run(store, pricer, outcomes)  # format auto
    assert (summary.files[0].format, summary.outcomes, summary.rejected) == ("native", 2, 0)
    assert summary.files[0].failed is None
    charges = write_lines(tmp_path / "charges.jsonl", [CHARGE])
    assert run(store, pricer, charges).files[0].format == "native"
    typed_call = write_lines(tmp_path / "typed.jsonl", [{**samples.native_call("t-1"), "type": "call"}])
    assert run(store, pricer, typed_call).files[0].format == "native"
    assert store.events_count("outcomes") == 2


def test_a_charge_in_another_currency_is_rejected_not_summed_as_dollars(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    lines = [{**CHARGE, "id": "c-eur", "currency": "EUR"}, {**CHARGE, "id": "c-usd", "currency": "usd"}]
    summary = run(store, pricer, write_lines(tmp_path / "charges.jsonl", lines))
    assert (summary.charges, summary.rejected) == (1, 1)
    error = summary.files[0].errors[0]
    assert (error.field, error.record) == ("currency", 1)
    assert "'EUR': every cost is kept in USD" in str(error)


def test_a_call_cost_in_another_currency_is_rejected_not_summed_as_dollars(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    def carried(currency: str) -> dict[str, str]:
        return {"total": "1.00", "currency": currency, "source": "invoice"}

    lines = [
        samples.native_call("eur", cost=carried("EUR")),
        samples.native_call("usd", cost=carried("usd")),
        samples.native_call("blank", cost=carried("")),
    ]
    summary = run(store, pricer, write_lines(tmp_path / "costs.jsonl", lines))
    assert (summary.calls, summary.rejected, summary.cost) == (2, 1, Decimal("2.00"))
    error = summary.files[0].errors[0]
    assert (error.field, error.record) == ("cost.currency", 1)
    assert "'EUR': every cost is kept in USD" in str(error)
    stored = calls(store)
    assert set(stored) == {"usd", "blank"}
    assert {call.cost.currency for call in stored.values() if call.cost} == {"USD"}
    fast_file = write_lines(tmp_path / "fast.jsonl", [samples.native_call("f", cost=carried("Usd"))])
    fast = store.import_native_jsonl(fast_file, pricer=pricer)
    assert (fast.fast_path, fast.calls) == (True, 1)
    assert calls(store)["f"].cost.currency == "USD"  # type: ignore[union-attr]


def test_an_outcome_line_with_nothing_in_it_is_rejected(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    empty = {key: value for key, value in OUTCOME.items() if key != "success"}
    summary = run(store, pricer, write_lines(tmp_path / "o.jsonl", [OUTCOME, empty]))
    assert (summary.outcomes, summary.rejected) == (1, 1)
    error = summary.files[0].errors[0]
    assert (error.field, error.record) == ("(record)", 2)
    assert "an outcome needs success, score or action" in str(error)
    assert store.events_count("outcomes") == 1


def test_negative_money_is_rejected_on_the_sql_path_and_the_per_line_path_alike(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    """A negative cost, part or charge (DESIGN: negative results fail loudly): each line rejected with
    its field, on the fast path's file as on the per-line one (a file with an outcome goes line by line)."""
    call = samples.native_call("neg-1")
    cost = {"total": "-1.000000000000", "parts": {"input_uncached": "-1.000000000000"}, "currency": "USD"}
    part = {"total": "0.5", "parts": {"input_uncached": "0.6", "output_visible": "-0.1"}, "currency": "USD"}
    lines = [
        {**call, "cost": cost},
        {**call, "id": "neg-2", "cost": part},
        {**CHARGE, "id": "g-neg", "amount": "-1"},
        {**call, "id": "ok-1"},
    ]
    for name, extra in (("fast.jsonl", []), ("slow.jsonl", [OUTCOME])):
        summary = run(store, pricer, write_lines(tmp_path / name, [*lines, *extra]))
        fields = sorted(str(error.field) for error in summary.files[0].errors)
        assert fields == ["amount", "cost.parts.input_uncached", "cost.parts.output_visible"], name
        assert "never negative" in str(summary.files[0].errors[0])
    assert set(calls(store)) == {"ok-1"}
    assert store.charges_table().num_rows == 0


def test_an_amount_python_alone_would_read_is_rejected_on_both_paths(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    """Python's Decimal takes "1_0" as 10 and " 1" as 1, which the SQL path refuses: a file with such
    a charge went to the per-line path and stored them."""
    lines = [
        {**CHARGE, "id": "g-underscore", "amount": "1_0"},
        {**CHARGE, "id": "g-space", "amount": " 1"},
        {**CHARGE, "id": "g-nan", "amount": "NaN"},
        {**CHARGE, "id": "g-ok", "amount": "7.5E-2"},
        {**CHARGE, "id": "g-point", "amount": ".5"},
    ]
    for name, extra in (("fast.jsonl", []), ("slow.jsonl", [OUTCOME])):
        summary = run(store, pricer, write_lines(tmp_path / name, [*lines, *extra]))
        assert [(e.field, e.record) for e in summary.files[0].errors] == [
            ("amount", 1),
            ("amount", 2),
            ("amount", 3),
        ]
        assert "not a decimal number: '1_0'" in str(summary.files[0].errors[0])
    kept = {row["id"]: row["amount"] for row in store.charges_table().to_pylist()}
    assert kept == {"g-ok": Decimal("0.075"), "g-point": Decimal("0.5")}


def test_filler_beyond_the_visible_output_is_rejected_on_both_paths(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    """Filler is part of the visible output: more of it than the output would make token efficiency
    negative. Rejected by name, on the SQL fast path's file as on the per-line one."""
    visible = samples.native_call("f-0")["usage"]["output_visible"]
    lines = [
        samples.native_call("f-1", filler_tokens=visible + 1),
        samples.native_call("f-2", filler_tokens=visible),
    ]
    for name, extra in (("fast.jsonl", []), ("slow.jsonl", [OUTCOME])):
        summary = run(store, pricer, write_lines(tmp_path / name, [*lines, *extra]))
        [error] = summary.files[0].errors
        assert (error.field, error.record) == ("filler_tokens", 1), name
        assert f"{visible + 1} is more than the call's visible output ({visible})" in str(error)
    assert set(calls(store)) == {"f-2"}


def test_a_call_that_ends_before_it_starts_is_rejected_on_both_paths(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    """Accepted before: its latency came out negative, and its session's last time before its first."""
    start = "2026-01-01T00:00:01.000Z"
    lines = [
        samples.native_call("backwards", started_at=start, ended_at="2026-01-01T00:00:00.999999Z"),
        samples.native_call("same", started_at=start, ended_at="2026-01-01T00:00:01Z"),
        samples.native_call("later", started_at=start, ended_at="2026-01-01T00:00:01.000001Z"),
    ]
    for name, extra in (("fast.jsonl", []), ("slow.jsonl", [OUTCOME])):
        summary = run(store, pricer, write_lines(tmp_path / name, [*lines, *extra]))
        [error] = summary.files[0].errors
        assert (error.field, error.record) == ("ended_at", 1), name
        assert "2026-01-01T00:00:00.999Z is before started_at (2026-01-01T00:00:01.000Z)" in str(error)
    assert set(calls(store)) == {"same", "later"}
    fine = write_lines(tmp_path / "fine.jsonl", lines[1:])
    assert store.import_native_jsonl(fine, pricer=pricer).fast_path is True  # the check vouches for these


def test_an_outcome_without_a_target_is_not_claimed(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "o.jsonl", [{"type": "outcome", "id": "x", "at": "2026-01-01T00:00:00Z"}])
    assert NativeImporter().sniff(Source(path).sample()) == 0.0


def test_a_call_with_a_wrong_type_is_detected_and_rejected(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    path = write_lines(tmp_path / "t.jsonl", [{**samples.native_call("w-1"), "type": "cal"}])
    summary = run(store, pricer, path)
    assert (summary.files[0].format, summary.calls, summary.rejected) == ("native", 0, 1)
    assert summary.files[0].errors[0].field == "type"


def _trailing(record: dict[str, object], where: str) -> str:
    """``record`` as a JSON line with a trailing comma (which JSON does not allow) at ``where``."""
    text = json.dumps(record)
    if where == "object":
        return text[:-1] + ", }"
    if where == "usage":
        return text.replace('"reasoning": 0}', '"reasoning": 0,}')
    return text[:-1] + ', "prefix_hashes": ["a",\t]}'


def test_a_trailing_comma_is_taken_by_the_fast_path_with_every_value_kept(
    pricer: Pricer, tmp_path: Path
) -> None:
    """DuckDB's JSON reader takes a trailing comma (``{"id": "a",}``), which JSON does not: the fast
    path stores such lines whole (nothing of them is lost), where the per-line read rejects them as
    not JSON. Refusing them on the fast path would take a second read of every line (about a tenth of
    the import's CPU, measured), so the leniency is documented instead (docs/importing.md)."""
    from tokenomy.store import open_store
    from tokenomy.store.duckdb_import import import_line_by_line

    lines = [
        json.dumps(samples.native_call("c-1")),
        _trailing(samples.native_call("c-2"), "object"),
        _trailing(samples.native_call("c-3"), "usage"),
        _trailing(samples.native_call("c-4", session_id="s,}"), "array"),
    ]
    path = write_lines(tmp_path / "n.jsonl", lines)
    with open_store(tmp_path / "fast.duckdb") as fast, open_store(tmp_path / "slow.duckdb") as slow:
        ours = fast.import_native_jsonl(path, pricer=pricer)
        python = import_line_by_line(slow, path, pricer=pricer)
        assert set(calls(fast)) == {"c-1", "c-2", "c-3", "c-4"}
        assert set(calls(slow)) == {"c-1"}
        stored = {c.id: c for c in fast.iter_calls()}
    assert (ours.fast_path, ours.calls, ours.rejected) == (True, 4, 0)
    assert [e.record for e in python.errors] == [2, 3, 4]
    assert (stored["c-3"].usage.input_uncached, stored["c-3"].usage.reasoning) == (100, 0)
    assert (stored["c-4"].prefix_hashes, stored["c-4"].session_id) == (("a",), "s,}")


def test_an_error_type_that_is_free_text_is_not_stored_on_either_path(pricer: Pricer, tmp_path: Path) -> None:
    """``error_type`` is a classification (``errors.error_kind``): an exception's message there, which
    can quote the prompt or a key, is dropped (the call is kept), on the fast path and per line alike."""
    from tokenomy.store import open_store
    from tokenomy.store.duckdb_import import import_line_by_line

    leaky = "Incorrect API key provided: sk-test-MARKERKEY123"
    lines = [
        json.dumps(samples.native_call("e-1", status="error", error_type="rate_limit_error")),
        json.dumps(samples.native_call("e-2", status="error", error_type=leaky)),
        json.dumps(samples.native_call("e-3", status="error", error_type="sk-test-MARKERKEY123")),
        json.dumps(samples.native_call("e-4", status="error", error_type="x" * 65)),
        json.dumps(samples.native_call("e-5", status="error", error_type="AIzaSyD-abc123")),
        json.dumps(samples.native_call("e-6", status="error", error_type="0123456789abcdef0123456789abcdef")),
    ]
    path = write_lines(tmp_path / "n.jsonl", lines)
    with open_store(tmp_path / "fast.duckdb") as fast, open_store(tmp_path / "slow.duckdb") as slow:
        ours = fast.import_native_jsonl(path, pricer=pricer)
        import_line_by_line(slow, path, pricer=pricer)
        kinds = [{c.id: c.error_type for c in store.iter_calls()} for store in (fast, slow)]
    assert (ours.fast_path, ours.calls, ours.rejected) == (True, 6, 0)
    expected = {"e-1": "rate_limit_error", "e-2": None, "e-3": None, "e-4": None, "e-5": None, "e-6": None}
    assert kinds == [expected, expected]


def test_error_kind_refuses_keys_of_every_common_shape() -> None:
    """Known key prefixes in any case, and a long run of letters and digits with a digit (a key
    with no prefix), are never an error type; long class names without digits are."""
    from tokenomy.errors import error_kind

    refused = [
        "sk-proj-abc",
        "SK-abc",
        "sk_live_abc",
        "gsk_abc123",
        "xai-abc123",
        "hf_abc123",
        "AIzaSyD-abc123",
        "AKIAIOSFODNN7EXAMPLE",
        "ghp_abc123",
        "pk-lf-abc123",
        "0123456789abcdef0123456789abcdef",
        "x" * 31 + "1",
    ]
    kept = [
        "rate_limit_error",
        "http_429",
        "RESOURCE_EXHAUSTED",
        "ContextWindowExceededErrorException",
        "x" * 40,
    ]
    assert [error_kind(v) for v in refused] == [None] * len(refused)
    assert [error_kind(v) for v in kept] == kept
