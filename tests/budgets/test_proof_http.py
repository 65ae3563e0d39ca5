"""The gateway form of the proof: its HTTP client, usage read from the streams, refusals as HTTP 429."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tokenomy.budgets.proof import ProofConfig
from tokenomy.budgets.proof_http import run_against_gateways
from tokenomy.mockllm import MockLLMConfig, run_in_thread

pytestmark = pytest.mark.integration


class _Refuse(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        body = b'{"error": {"type": "budget_exceeded", "message": "no"}}'
        self.send_response(429)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def refusing() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_ground_truth_is_the_usage_the_streams_report() -> None:
    with run_in_thread(MockLLMConfig(seed=3)) as mock:
        config = ProofConfig(streams=4, deadline=1.0, input_tokens=40)
        result = run_against_gateways([mock.base_url, mock.base_url + "/"], config)
        totals = mock.stats()["totals"]
    assert result.requests == totals["requests"] > 0
    assert totals["streamed"] == totals["requests"]
    # gpt-4o-mini: $0.15 and $0.60 per million input and output tokens
    expected = (
        Decimal(totals["input_tokens"]) * 150_000 + Decimal(totals["output_tokens"]) * 600_000
    ) / 10**12
    assert result.used == expected


def test_a_429_is_a_refusal(refusing: str) -> None:
    result = run_against_gateways([refusing], ProofConfig(streams=8, deadline=5.0))
    assert (result.requests, result.rejections, result.used) == (0, 8, Decimal(0))
    with pytest.raises(ValueError, match="at least one base URL"):
        run_against_gateways([], ProofConfig())
