"""The rules every format shares: strict aborts, bad records counted, idempotency, pricing, attribution."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from rich.console import Console

from tests.importers import samples
from tests.importers.support import calls, cost_total, run, write_json, write_lines
from tokenomy.cli.importing import print_summary
from tokenomy.pricing import Pricer
from tokenomy.schema import Attribution
from tokenomy.store import DuckDBStore


def _rows(*ids: str) -> list[dict[str, object]]:
    return [samples.spend_log(i) for i in ids]


def test_strict_stores_nothing_from_a_file_with_a_bad_record(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    bad = write_lines(tmp_path / "bad.jsonl", [*_rows("a", "b"), "{not json", *_rows("c")])
    good = write_lines(tmp_path / "good.jsonl", _rows("d"))
    summary = run(store, pricer, bad, good, strict=True)
    first, second = summary.files
    assert (first.aborted, first.calls, first.rejected) == (True, 0, 1)
    assert "--strict" in str(first.failed)
    assert "record 3" in str(first.failed)
    assert (second.calls, second.ok) == (1, True)
    assert set(calls(store)) == {"d"}
    assert not summary.ok


def test_without_strict_good_records_are_stored(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "mixed.jsonl", [*_rows("a", "b"), "{not json", *_rows("c")])
    summary = run(store, pricer, path)
    assert (summary.calls, summary.rejected) == (3, 1)
    assert summary.files[0].errors[0].record == 3
    assert set(calls(store)) == {"a", "b", "c"}


def test_same_file_twice_is_stored_once(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    path = write_json(tmp_path / "rows.json", _rows("a", "b", "c"))
    first = run(store, pricer, path)
    second = run(store, pricer, path)
    assert (first.calls, first.duplicates) == (3, 0)
    assert (second.calls, second.duplicates, second.tokens["cache_read"]) == (0, 3, 0)
    assert second.cost == 0
    assert store.count() == 3


def test_an_appended_log_adds_only_its_new_calls(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    run(store, pricer, write_lines(tmp_path / "day1.jsonl", _rows("a", "b")))
    longer = write_lines(tmp_path / "day2.jsonl", _rows("a", "b", "c", "c"))
    summary = run(store, pricer, longer)
    assert (summary.calls, summary.duplicates) == (1, 3)  # a and b known, the second c repeats the first
    assert summary.tokens["cache_read"] == 1000  # only the new call's tokens are counted
    assert summary.input_total == 1200


def test_every_call_is_priced_before_it_is_stored(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    unknown = samples.spend_log("z", model="house-model-7b", custom_llm_provider="acme")
    summary = run(store, pricer, write_json(tmp_path / "rows.json", [*_rows("a"), unknown]))
    stored = calls(store)
    assert cost_total(stored["a"]) is not None
    assert cost_total(stored["z"]) is None  # unpriced, never $0
    assert stored["z"].cost is not None
    assert stored["z"].cost.reason
    assert (summary.unpriced, summary.calls) == (1, 2)
    assert summary.cost == cost_total(stored["a"])


def test_run_attribution_fills_gaps_and_records_win(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    path = write_json(tmp_path / "rows.json", _rows("a"))
    run(
        store,
        pricer,
        path,
        attribution=Attribution(team="platform", feature="triage", tags={"env": "staging"}),
    )
    attribution = calls(store)["a"].attribution
    assert (attribution.team, attribution.user, attribution.feature) == ("search", "alice", "triage")
    assert attribution.tags == {"env": "prod", "batch": "true"}  # the record's own tag wins


def test_calls_record_where_they_came_from(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    run(store, pricer, write_json(tmp_path / "rows.json", _rows("a")))
    assert calls(store)["a"].source == "import:litellm"


def test_recorded_cost_is_summed_next_to_our_price_of_the_same_calls(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    rows = [
        samples.spend_log("a", spend=0.01),
        samples.spend_log("b", spend=0.02),
        samples.spend_log(
            "c", model="no-such-model-xyz", custom_llm_provider="openai", spend=0.5
        ),  # unpriced
        {**samples.spend_log("d"), "spend": None},  # nothing recorded
    ]
    path = write_lines(tmp_path / "spend.jsonl", rows)
    summary = run(store, pricer, path)
    stored = calls(store)
    ours = sum((cost_total(stored[i]) or Decimal(0) for i in ("a", "b")), Decimal(0))
    assert (summary.calls, summary.unpriced) == (4, 1)
    assert (summary.reported_calls, summary.reported_cost) == (2, Decimal("0.03"))
    assert summary.reported_priced == ours
    console = Console(width=200, record=True)
    print_summary(summary, console)
    text = console.export_text()
    assert "cost recorded by the source (2 calls) │ $0.030000" in text
    assert f"tokenomy cost of the same 2 calls     │ ${ours.quantize(Decimal('0.000001'))}" in text
    assert run(store, pricer, path).reported_calls == 0  # duplicates are not counted again


def test_unknown_usage_is_counted_never_summed_as_0(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    """A call that left a figure unreported is counted as such; a figure no call reported is None."""
    bare = json.dumps({"user_api_key_team_alias": "search"})  # no usage object: the flat totals only
    rows = [
        samples.spend_log("full"),  # every bucket but the output split (no completion details)
        samples.spend_log("flat", metadata=bare),  # input and output totals only
        samples.spend_log(
            "none", metadata=bare, prompt_tokens=None, completion_tokens=None, total_tokens=None
        ),
    ]
    summary = run(store, pricer, write_json(tmp_path / "rows.json", rows))
    assert summary.calls == 3
    assert summary.usage_unknown == 3
    assert summary.tokens == {
        "input_uncached": 100,
        "cache_read": 1000,
        "cache_write_5m": 100,
        "cache_write_1h": 0,
        "output_visible": None,  # no call reported it: unknown, not 0
        "reasoning": None,
    }
    assert (summary.input_total, summary.output_total) == (2400, 160)  # over 2 of the 3 calls
    assert [summary.unreported(f) for f in ("cache_read", "output_visible", "input_total")] == [2, 3, 1]
    (result,) = summary.files
    assert (result.usage_unknown, result.unreported["cache_write_1h"]) == (3, 2)


def test_a_run_without_stored_calls_has_known_zero_tokens(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    path = write_json(tmp_path / "rows.json", _rows("a"))
    run(store, pricer, path)
    again = run(store, pricer, path)  # a duplicate only: nothing stored, nothing unknown
    assert (again.calls, again.usage_unknown, again.input_total, again.tokens["reasoning"]) == (0, 0, 0, 0)
