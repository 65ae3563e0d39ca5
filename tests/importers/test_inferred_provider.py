"""A call whose source records a model and no provider gets the provider its model name belongs to."""

from __future__ import annotations

from pathlib import Path

from tests.importers import samples
from tests.importers.support import calls, run, write_json, write_lines
from tokenomy.analysis.waste.cache_rules import rule_for
from tokenomy.pricing import Pricer
from tokenomy.store import DuckDBStore


def test_langfuse_bare_model_gets_its_provider(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    trace = samples.langfuse_trace()
    trace["observations"][1]["model"] = "gpt-4o-2024-08-06"
    run(store, pricer, write_json(tmp_path / "trace.json", trace))
    stored = calls(store)
    plan, answer = stored["obs-gen-1"], stored["obs-gen-2"]
    assert (plan.provider, plan.request_model) == ("openai", "gpt-4o-2024-08-06")
    assert plan.cost is not None
    assert plan.cost.total is not None
    # a routed name keeps the provider it names
    assert (answer.provider, answer.request_model) == ("anthropic", "claude-sonnet-4-20250514")
    # the audit's cache advisor has a rule for the call now
    assert rule_for(plan.provider, plan.request_model) is not None
    assert rule_for(None, plan.request_model) is None


def test_swe_agent_model_option_gets_its_provider(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    path = write_json(tmp_path / "run.traj", samples.swe_trajectory())
    run(store, pricer, path, model="claude-sonnet-4-20250514")
    stored = list(calls(store).values())
    assert len(stored) == 3
    assert {(c.provider, c.request_model) for c in stored} == {("anthropic", "claude-sonnet-4-20250514")}
    assert rule_for("anthropic", "claude-sonnet-4-20250514") is not None


def test_transcript_model_gets_its_provider(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    run(store, pricer, write_json(tmp_path / "chat.json", samples.transcript()), model="gemini-2.5-pro")
    assert {c.provider for c in calls(store).values()} == {"google"}


def test_bedrock_model_id_is_aws_and_priced(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    run(
        store,
        pricer,
        write_json(tmp_path / "chat.json", samples.transcript()),
        model="anthropic.claude-3-5-sonnet-20240620-v1:0",
    )
    stored = list(calls(store).values())
    assert {c.provider for c in stored} == {"aws"}
    # without a provider the catalog could not price Bedrock's id; with it, every call is priced
    assert all(c.cost is not None for c in stored)
    assert all(c.cost.total is not None for c in stored if c.cost is not None)


def test_litellm_row_without_custom_provider(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    named = samples.spend_log("ll-named", model="gpt-4o", custom_llm_provider="azure")
    bare = samples.spend_log("ll-bare", model="gpt-4o", custom_llm_provider=None)
    run(store, pricer, write_lines(tmp_path / "spend.jsonl", [named, bare]))
    stored = calls(store)
    assert stored["ll-named"].provider == "azure"  # the source's provider wins
    assert stored["ll-bare"].provider == "openai"


def test_provider_body_with_wrapper_provider_keeps_it(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    record = {"provider": "openrouter", "request": samples.chat_request(), "response": samples.openai_chat()}
    run(store, pricer, write_json(tmp_path / "pair.json", record))
    assert [c.provider for c in calls(store).values()] == ["openrouter"]


def test_unknown_model_stays_unattributed(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    run(store, pricer, write_json(tmp_path / "chat.json", samples.transcript()), model="in-house-llm-7b")
    assert {c.provider for c in calls(store).values()} == {None}
