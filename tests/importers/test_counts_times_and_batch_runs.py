"""Records that stopped a whole import or overstated a run: a count no 64-bit integer holds, an epoch
time in milliseconds, a SWE-agent run of a batch. Each is its own record's problem, never the run's."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from tests.importers import samples
from tests.importers.support import calls, run, write_json
from tokenomy.importers.records import from_epoch
from tokenomy.pricing import Pricer
from tokenomy.store import DuckDBStore


def test_a_count_too_large_to_store_rejects_its_record_and_the_other_files_are_imported(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    huge = samples.openai_chat("huge")
    huge["usage"] = {"prompt_tokens": 2**64 - 1, "completion_tokens": 1, "total_tokens": 2**64}
    write_json(folder / "a_huge.json", huge)  # read first: it stopped the run before
    write_json(folder / "b_good.json", samples.openai_chat("good"))
    over = samples.openai_chat("over")  # fits in 64 bits, but a million of them would overflow a sum
    over["usage"] = {"prompt_tokens": 10**10 + 1, "completion_tokens": 1, "total_tokens": 10**10 + 2}
    write_json(folder / "b_over.json", over)
    span = {"key": "gen_ai.usage.input_tokens", "value": {"intValue": str(2**64 - 1)}}
    otlp = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "0af7651916cd43dd8448eb211c80319c",
                                "spanId": "b7ad6b7169203331",
                                "name": "chat gpt-4o",
                                "startTimeUnixNano": "1767225600000000000",
                                "attributes": [
                                    {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                                    {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                                    span,
                                ],
                            }
                        ]
                    }
                ]
            }
        ]
    }
    write_json(folder / "c_span.json", otlp)
    summary = run(store, pricer, folder)
    assert (summary.calls, summary.rejected) == (1, 3)
    assert set(calls(store)) == {"good"}
    errors = [str(e) for f in summary.files for e in f.errors]
    held = "a count larger than one call can hold (at most 10,000,000,000 tokens"
    assert any("a_huge.json: record 1, field 'usage.input_total'" in e and held in e for e in errors)
    assert any("b_over.json: record 1, field 'usage.input_total'" in e and held in e for e in errors)
    assert any("c_span.json" in e and held in e for e in errors)


def test_an_epoch_time_is_read_in_seconds_or_a_smaller_unit() -> None:
    second = 1767225600  # 2026-01-01 00:00:00 UTC
    expected = datetime(2026, 1, 1)
    assert [from_epoch(second * f) for f in (1, 1000, 10**6, 10**9)] == [expected] * 4
    assert from_epoch(second + 0.25) == datetime(2026, 1, 1, 0, 0, 0, 250000)


def test_an_openhands_log_stamped_in_milliseconds_is_read(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    messages = [{"role": "user", "content": "fix it"}]
    log = samples.openhands_log("r-ms", messages, "done", at=1767225600.0)
    log["timestamp"] = 1767225600 * 1000
    summary = run(store, pricer, write_json(tmp_path / "ms.json", log))
    assert (summary.calls, summary.rejected) == (1, 0)
    (call,) = calls(store).values()
    assert call.ended_at == datetime(2026, 1, 1)


def test_a_swe_agent_run_of_a_batch_keeps_its_own_cost(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    traj = samples.swe_trajectory(sent=5000, received=300, cost=0.059)
    traj["info"]["model_stats"]["total_cost"] = 3.21785  # the batch's running total, this run included
    run(store, pricer, write_json(tmp_path / "run.traj", traj), model="gpt-4-1106-preview")
    recorded = sum((c.provider_reported_cost or Decimal(0)) for c in calls(store).values())
    assert recorded == Decimal("0.059")  # the run's instance_cost


def test_a_trajectory_with_only_a_total_cost_keeps_it(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    traj = samples.swe_trajectory(sent=5000, received=300, cost=0.059)
    del traj["info"]["model_stats"]["instance_cost"]
    run(
        store,
        pricer,
        write_json(tmp_path / "run.traj", json.loads(json.dumps(traj))),
        model="gpt-4-1106-preview",
    )
    assert sum((c.provider_reported_cost or Decimal(0)) for c in calls(store).values()) == Decimal("0.059")


def test_a_request_asking_for_no_output_limit_is_imported(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    """JavaScript's largest safe integer is a common "no limit" for max_tokens: a cap, no tokens held."""
    body = samples.openai_chat("capped")
    summary = run(
        store,
        pricer,
        write_json(tmp_path / "capped.json", {"request": {"max_tokens": 2**53 - 1}, "response": body}),
    )
    assert (summary.calls, summary.rejected) == (1, 0)
    assert calls(store)["capped"].max_output_tokens == 2**53 - 1
