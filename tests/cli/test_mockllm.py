"""``tokenomy mock-llm``: options become a MockLLMConfig; the command serves until interrupted."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tokenomy.cli.main import cli
from tokenomy.cli.mockllm import build_config
from tokenomy.mockllm import Latency, Lengths

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS: dict[str, Any] = {
    "output_tokens": "16",
    "reasoning_tokens": "64",
    "seed": 0,
    "latency_ms": None,
    "ttft_ms": 0.0,
    "chunk_delay_ms": 0.0,
    "error_rate": (),
    "fault": (),
    "chunk_tokens": 1,
    "cache_ttl_s": 300.0,
    "auto_tool_call": False,
    "chunked_json": False,
    "header_overrides": True,
}


def test_options_build_the_config() -> None:
    options = DEFAULTS | {
        "output_tokens": "lognormal:200,0.7",
        "seed": 9,
        "latency_ms": 500.0,
        "ttft_ms": 40.0,
        "error_rate": ("0.05", "429=0.02"),
        "fault": ("cut=0.01", "hangup=0.002"),
        "cache_ttl_s": 60.0,
        "auto_tool_call": True,
    }
    config = build_config(**options)
    assert config.output_tokens == Lengths.lognormal(200, 0.7)
    assert config.seed == 9
    assert config.latency == Latency(ttft_ms=40.0, inter_chunk_ms=0.0, total_ms=500.0)
    assert config.error_rates == {500: 0.05, 429: 0.02}
    assert config.fault_rates == {"cut": 0.01, "hangup": 0.002}
    assert (config.openai_cache_ttl_s, config.auto_tool_call) == (60.0, True)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--error-rate", "lots"], "is not a probability"),
        (["--error-rate", "abc=0.1"], "STATUS=RATE"),
        (["--fault", "cut"], "NAME=RATE"),
        (["--fault", "explode=0.1"], "unknown fault 'explode'"),
        (["--output-tokens", "many"], "fixed:N or lognormal"),
        (["--error-rate", "0.7", "--fault", "cut=0.7"], "more than 1"),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["mock-llm", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_help_lists_the_knobs() -> None:
    result = CliRunner().invoke(cli, ["mock-llm", "--help"])
    assert result.exit_code == 0
    for option in (
        "--host",
        "--port",
        "--latency-ms",
        "--output-tokens",
        "--seed",
        "--error-rate",
        "--fault",
    ):
        assert option in result.output


@pytest.mark.integration
def test_command_serves_until_interrupted_and_prints_what_it_served() -> None:
    args = [sys.executable, "-m", "tokenomy.cli.main", "mock-llm", "--port", "0", "--output-tokens", "5"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", first)
        assert match, first
        body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).encode()
        req = urllib.request.Request(
            f"{match.group(0)}/v1/chat/completions", body, {"content-type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=10) as response:
            usage = json.loads(response.read())["usage"]
        assert usage["completion_tokens"] == 5
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert f"served 1 requests: {usage['prompt_tokens']} input tokens (0 cached), 5 output tokens" in out
