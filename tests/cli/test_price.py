"""``tokenomy price``: table and JSON output, overrides, and exit code 1 for unpriced models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tokenomy.cli.main import cli

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "overrides.toml"
SONNET = [
    "price",
    "--model",
    "claude-sonnet-4-5",
    "--provider",
    "anthropic",
    "--input-uncached",
    "1000",
    "--cache-read",
    "20000",
    "--cache-write-5m",
    "2000",
    "--cache-write-1h",
    "5000",
    "--output-visible",
    "800",
    "--reasoning",
    "200",
    "--at",
    "2025-10-01",
]


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.delenv("TOKENOMY_OVERRIDES", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray tokenomy.toml
    return CliRunner()


def test_json_gives_decimal_strings_and_provenance(runner: CliRunner) -> None:
    result = runner.invoke(cli, [*SONNET, "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    # 1000 x $3 + 20000 x $0.30 + 2000 x $3.75 + 5000 x $6 + 1000 x $15, per million tokens
    assert data["total"] == "0.061500000000"
    assert data["buckets"]["cache_write_1h"] == {
        "tokens": 5000,
        "rate_per_mtok": "6",
        "amount": "0.030000000000",
    }
    assert data["buckets"]["reasoning"]["amount"] == "0.003000000000"
    assert data["parts"]["cache_read"] == "0.006000000000"
    assert (data["source"], data["price_date"], data["estimated"]) == (
        "genai-prices@0.2.3",
        "2025-10-01",
        False,
    )


def test_table_shows_buckets_rates_amounts_total_source_and_date(runner: CliRunner) -> None:
    result = runner.invoke(cli, SONNET, terminal_width=160)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(
        "cache_write_1h" in line and "5,000" in line and "6" in line and "0.030000000000" in line
        for line in lines
    )
    assert any("total" in line and "0.061500000000" in line for line in lines)
    assert "source: genai-prices@0.2.3" in result.output
    assert "price date: 2025-10-01" in result.output


def test_unpriced_model_exits_1_with_a_clear_message(runner: CliRunner) -> None:
    result = runner.invoke(
        cli, ["price", "--model", "llama-3-70b", "--provider", "my-gpu", "--input-uncached", "5"]
    )
    assert result.exit_code == 1
    assert "unpriced: provider 'my-gpu' is not in the genai-prices@0.2.3 catalog" in result.output
    as_json = runner.invoke(cli, ["price", "-m", "nope-model", "-p", "openai", "--format", "json"])
    assert as_json.exit_code == 1
    assert json.loads(as_json.output.split("\nError:")[0])["total"] is None


def test_overrides_batch_and_service_tier(runner: CliRunner) -> None:
    base = ["price", "-m", "gpt-4o", "-p", "openai", "--input-uncached", "1000000", "--at", "2025-09-01"]
    result = runner.invoke(cli, [*base, "--overrides", str(EXAMPLE), "--batch", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["total"] == "1.250000000000"
    assert data["source"] == "genai-prices@0.2.3+override:overrides.toml#openai-discounts"
    flex = runner.invoke(
        cli, [*base, "--overrides", str(EXAMPLE), "--service-tier", "flex", "--format", "json"]
    )
    assert json.loads(flex.output)["total"] == "1.250000000000"


def test_overrides_come_from_the_environment_too(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENOMY_OVERRIDES", str(EXAMPLE))
    args = ["price", "-m", "llama-3.1-70b", "-p", "vllm", "--latency-ms", "1000", "--format", "json"]
    result = runner.invoke(cli, [*args, "--at", "2025-05-01"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["parts"]["overhead"] == "0.001125000000"


def test_bad_overrides_file_is_reported(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[price]]\nmodel='m'\neffective=2025-01-01\ninput=1\n", encoding="utf-8")
    result = runner.invoke(cli, ["price", "-m", "gpt-4o", "--overrides", str(bad)])
    assert result.exit_code != 0
    assert "bad.toml: [[price]] entry 1, field 'output'" in str(result.exception or result.output)


@pytest.mark.parametrize("latency", ["nan", "inf"])
def test_a_latency_that_is_no_number_is_refused(runner: CliRunner, latency: str) -> None:
    args = ["price", "-m", "llama-3.1-70b-instruct", "-p", "vllm", "--input-uncached", "1"]
    result = runner.invoke(cli, [*args, "--latency-ms", latency, "--overrides", str(EXAMPLE)])
    assert result.exit_code == 2
    assert "Invalid value for --latency-ms" in result.output
    assert "is not a finite number of ms" in result.output
