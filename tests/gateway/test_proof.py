"""The budget proof through two real gateway processes sharing a Redis ledger (integration)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tokenomy.budgets.proof import ProofConfig
from tokenomy.budgets.proof_http import run_against_gateways
from tokenomy.budgets.redis_process import RedisProcess
from tokenomy.gateway.processes import gateway_process, mock_process, proof_config

pytestmark = pytest.mark.integration


def test_two_gateways_sharing_redis_hold_a_hard_budget(redis_server: RedisProcess, tmp_path: Path) -> None:
    budget = Decimal("1")
    config = ProofConfig(budget_usd=budget, streams=128, deadline=900.0)
    with mock_process() as mock:
        path = tmp_path / "tokenomy.toml"
        path.write_text(
            proof_config(upstream=f"{mock.base_url}/v1", ledger=redis_server.url, budget_usd=str(budget))
        )
        with gateway_process(path) as first, gateway_process(path) as second:
            result = run_against_gateways(
                [first.base_url, second.base_url], config, headers={"X-Tokenomy-Team": "proof"}
            )
    bar = max(budget * Decimal("0.001"), result.max_reservation)
    assert result.rejections > 0  # the budget was reached
    assert result.overshoot <= bar, f"overshoot {result.overshoot} above {bar}"
    assert result.used_before_first_rejection >= budget * Decimal("0.97"), result
