from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tests.analysis.builders import hand_store
from tests.analysis.conftest import SimStore
from tokenomy.analysis import metrics as m
from tokenomy.analysis.attribution import attribute
from tokenomy.analysis.dimensions import Scope
from tokenomy.analysis.grouped import Selection
from tokenomy.analysis.kpis import Kpi, figures, kpis
from tokenomy.store import open_store


def test_kpis_reuse_the_metric_definitions(tmp_path: Path) -> None:
    with hand_store(tmp_path / "s.duckdb") as store:
        table = attribute(store, Selection.of(by=["team"]))
        values = {k.name: k for k in kpis(figures(store, Scope(), table=table))}
        efficiency = m.token_efficiency(store).total.value
        hit = m.cache_hit_ratio(store).total.value
    assert values["spend"].value == Decimal("0.038")
    assert values["calls"].value == 5
    assert values["unpriced"].value == 1
    assert values["cost_per_session"].value == Decimal("0.035") / 2
    assert values["token_efficiency"].value == pytest.approx(efficiency)
    assert values["cache_hit_ratio"].value == pytest.approx(hit)
    assert values["spend"].previous is None
    assert values["spend"].change is None


def test_trends_say_which_way_is_better() -> None:
    cheaper = Kpi("spend", "Spend", "USD", Decimal(90), Decimal(100), better="down")
    assert cheaper.change == pytest.approx(-0.1)
    assert cheaper.improved is True
    worse = Kpi("token_efficiency", "Token efficiency", "ratio", 0.02, 0.04, better="up")
    assert worse.improved is False
    assert Kpi("calls", "Calls", "count", 10, 5, better="neither").improved is None
    assert Kpi("spend", "Spend", "USD", None, Decimal(1), reason="no call is priced").change is None


def test_weeks_of_a_simulation_have_trends(sim: SimStore) -> None:
    with open_store(sim.db, read_only=True) as store:
        now = figures(store, Scope(datetime(2026, 10, 12), datetime(2026, 10, 19)))
        before = figures(store, Scope(datetime(2026, 10, 5), datetime(2026, 10, 12)))
    items = {k.name: k for k in kpis(now, before)}
    assert all(k.previous is not None for k in items.values())
    assert items["spend"].change == pytest.approx(float(now.spend) / float(before.spend) - 1)  # type: ignore[arg-type]
