"""``tokenomy price``: instants for time-of-day prices, and provenance lines that are never wrapped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tokenomy.cli.main import cli

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "overrides.toml"
DEEPSEEK = ["price", "-m", "deepseek-chat", "-p", "deepseek", "--input-uncached", "1000000"]


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.delenv("TOKENOMY_OVERRIDES", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray tokenomy.toml
    return CliRunner()


def _json(runner: CliRunner, *args: str) -> dict[str, object]:
    result = runner.invoke(cli, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.output)
    return data


@pytest.mark.parametrize(
    ("at", "total", "estimated"),
    [
        # a date: DeepSeek's price changes during the day, so the peak ($0.27/M) as an upper bound
        ("2025-03-01", "0.270000000000", True),
        # 17:00 UTC is in the off-peak window (16:30-00:30 UTC): half price, exact
        ("2025-03-01T17:00", "0.135000000000", False),
        ("2025-03-02T01:00:00+08:00", "0.135000000000", False),
        # 10:00 in Beijing is 02:00 UTC: peak
        ("2025-03-01T10:00:00+08:00", "0.270000000000", False),
    ],
)
def test_at_takes_an_instant_for_prices_that_change_during_the_day(
    runner: CliRunner, at: str, total: str, estimated: bool
) -> None:
    data = _json(runner, *DEEPSEEK, "--at", at)
    assert (data["total"], data["estimated"]) == (total, estimated)


def test_an_instant_is_priced_at_its_utc_date(runner: CliRunner) -> None:
    # o3 went from $10 to $2 per million input tokens on 2025-06-10 (UTC)
    o3 = ["price", "-m", "o3", "-p", "openai", "--input-uncached", "1000000"]
    late = _json(runner, *o3, "--at", "2025-06-10T01:00:00+05:00")  # 2025-06-09 20:00 UTC
    assert (late["total"], late["price_date"]) == ("10.000000000000", "2025-06-09")
    assert _json(runner, *o3, "--at", "2025-06-10T00:00")["total"] == "2.000000000000"


def test_a_bad_at_is_refused_with_the_formats(runner: CliRunner) -> None:
    result = runner.invoke(cli, [*DEEPSEEK, "--at", "yesterday"])
    assert result.exit_code == 2
    assert "'yesterday' is neither a date (2025-06-10) nor an instant" in result.output


def test_source_and_reason_are_whole_lines_under_the_table(runner: CliRunner) -> None:
    args = ["price", "-m", "llama-3.1-70b-instruct", "-p", "vllm", "--input-uncached", "1"]
    result = runner.invoke(cli, [*args, "--overrides", str(EXAMPLE)], terminal_width=60)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    source = "override:overrides.toml#self-hosted-llama+override:overrides.toml#gpu-node"
    assert f"source: {source}" in lines
    assert any(line.startswith("price date: ") for line in lines)
    assert (
        "estimated: latency unknown: per-second overhead (override:overrides.toml#gpu-node) not charged"
        in lines
    )


def test_json_names_the_provider_the_price_came_from(runner: CliRunner) -> None:
    # no provider given: the catalog picks it from the model name, as the table's title shows
    data = _json(
        runner, "price", "-m", "vertex_ai/gemini-2.5-pro", "--input-uncached", "1", "--at", "2026-01-15"
    )
    assert (data["provider"], data["catalog_provider"], data["catalog_model"]) == (
        None,
        "google",
        "gemini-2.5-pro",
    )


REALTIME = [
    "price",
    "-m",
    "gpt-realtime",
    "-p",
    "openai",
    "--at",
    "2026-01-15",
    "--input-uncached",
    "1000000",
]


def test_modality_tokens_are_priced_and_shown_with_their_rates(runner: CliRunner) -> None:
    data = _json(runner, *REALTIME, "--modality", "input_uncached.audio=500000")
    assert data["total"] == "18.000000000000"  # 0.5M text x $4/M + 0.5M audio x $32/M
    buckets = data["buckets"]
    assert isinstance(buckets, dict)
    assert buckets["input_uncached"]["modalities"] == {
        "audio": {"tokens": 500000, "rate_per_mtok": "32"},
        "image": {"tokens": 0, "rate_per_mtok": "5"},
    }
    assert "modalities" not in buckets["reasoning"]
    table = runner.invoke(cli, [*REALTIME, "--modality", "input_uncached.audio=500000"])
    assert "│   of which audio │   500,000 │     32 │" in table.output


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("reasoning.audio=3", "is not BUCKET.MODALITY=N"),
        ("input_uncached.audio=-1", "is not BUCKET.MODALITY=N"),
        ("input_uncached.audio", "is not BUCKET.MODALITY=N"),
        ("input_uncached.audio=²", "is not BUCKET.MODALITY=N"),  # a digit, but not one int() reads
    ],
)
def test_a_bad_modality_is_refused_with_the_keys(runner: CliRunner, given: str, message: str) -> None:
    result = runner.invoke(cli, [*REALTIME, "--modality", given])
    assert result.exit_code == 2
    assert message in result.output
    assert "output_visible.image" in result.output


def test_a_modality_without_a_price_of_its_own_shows_its_buckets_rate(runner: CliRunner) -> None:
    # gpt-4o bills an image as input tokens: $2.50 / MTok, as text
    args = ["price", "-m", "gpt-4o", "-p", "openai", "--at", "2026-01-15", "--input-uncached", "1000"]
    data = _json(runner, *args, "--modality", "input_uncached.image=85")
    assert data["total"] == "0.002500000000"
    buckets = data["buckets"]
    assert isinstance(buckets, dict)
    assert buckets["input_uncached"]["modalities"] == {"image": {"tokens": 85, "rate_per_mtok": "2.5"}}
    table = runner.invoke(cli, [*args, "--modality", "input_uncached.image=85"])
    assert table.exit_code == 0, table.output
    assert "of which image" in table.output


def test_more_modality_tokens_than_the_bucket_is_unpriced(runner: CliRunner) -> None:
    result = runner.invoke(cli, [*REALTIME, "--modality", "input_uncached.audio=1000001"])
    assert result.exit_code == 1
    assert "modality_exceeds_bucket" in result.output
