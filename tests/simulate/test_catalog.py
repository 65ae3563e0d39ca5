"""Every model of the mix is in the genai-prices catalog, with its context window, and prices."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price, data_snapshot

from tests.simulate.conftest import Sim
from tokenomy import providers
from tokenomy.pricing import Pricer
from tokenomy.schema import Status
from tokenomy.simulate import catalog


@pytest.mark.parametrize("spec", catalog.MODELS, ids=lambda m: m.name)
def test_model_resolves_in_the_catalog_with_its_context_window(spec: catalog.ModelSpec) -> None:
    snapshot = data_snapshot.get_snapshot()
    assert providers.canonical(spec.provider) == spec.provider
    for name in (spec.name, spec.response_model):
        _, info = snapshot.find_provider_model(name, None, spec.provider, None)
        assert info.context_window == spec.context_window, f"{name}: update catalog.py from genai-prices"
    assert spec.provider in catalog.PROVIDERS


def test_the_top_model_is_the_most_expensive() -> None:
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    when = datetime(2026, 10, 5)
    price = {
        m.name: calc_price(usage, m.name, provider_id=m.provider, genai_request_timestamp=when).total_price
        for m in catalog.MODELS
    }
    assert max(price, key=lambda name: price[name]) == catalog.TOP_MODEL
    assert price[catalog.TOP_MODEL] == Decimal("90"), "$15 in + $75 out per million"


def test_every_billed_call_is_priced(default_sim: Sim) -> None:
    pricer = Pricer()
    costs: dict[str, list[Decimal]] = {}
    for call in default_sim.calls:
        cost = pricer.price(call)
        if call.status is Status.TIMEOUT:
            assert cost.total is None, "a timed-out call has no usage: unpriced, never $0"
            continue
        assert cost.total is not None, f"{call.request_model}: {cost.reason}"
        costs.setdefault(call.request_model or "", []).append(cost.total)
    assert set(costs) == {m.name for m in catalog.MODELS}, "the sample uses every model of the mix"
    for model, totals in costs.items():
        billed = sorted(t for t in totals if t > 0)
        median = billed[len(billed) // 2]
        assert Decimal("0.00001") < median < Decimal("2"), f"{model}: median call ${median}"
