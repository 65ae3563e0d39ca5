"""``GET /api/v1/report``, in process: the totals as before, with charges, grouped (by, bucket,
where), with a comparison and metrics, the summary, the HTML report's data; the very analyses of
``tokenomy report``; bad parameters named in a 400."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.server.support import Answer, call
from tokenomy.analysis.dimensions import Grouping, Scope
from tokenomy.analysis.grouped import Selection
from tokenomy.analysis.overview import overview
from tokenomy.analysis.overview_wire import overview_json
from tokenomy.analysis.report_analyses import Analyses, analysis_report
from tokenomy.analysis.report_wire import analysis_json, summary_json
from tokenomy.analysis.summary import summary
from tokenomy.pricing import Pricer
from tokenomy.schema import BUCKETS
from tokenomy.server.app import Collector
from tokenomy.server.settings import ServerSettings
from tokenomy.store import open_store

NDJSON = {"content-type": "application/x-ndjson"}
ROW_KEYS = {
    "day", "provider", "model", "calls", *BUCKETS, "input_total", "output_total", "cost", "unpriced",
    "usage_unknown",
}  # fmt: skip
"""The keys of a row of the report without parameters (``usage_unknown`` as the CLI's JSON has it)."""


def _usage(uncached: int, output: int, cache_read: int = 0) -> dict[str, int]:
    return dict.fromkeys(BUCKETS, 0) | {
        "input_uncached": uncached,
        "output_visible": output,
        "cache_read": cache_read,
    }


def _call(cid: str, at: str, model: str, cost: str | None, **attribution: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": cid,
        "provider": "anthropic" if model.startswith("claude") else "openai",
        "request_model": model,
        "started_at": at,
        "usage": _usage(100, 10, cache_read=50 if model.startswith("claude") else 0),
        "attribution": attribution,
        "session_id": f"s-{cid}",
    }
    if cost is not None:
        record["cost"] = {"total": cost, "currency": "USD", "source": "test"}
    return record


RECORDS = [
    _call("c1", "2026-03-01T10:00:00Z", "gpt-4o-mini", "0.01", team="a", feature="f1", tags={"env": "prod"}),
    _call("c2", "2026-03-01T11:00:00Z", "claude-x", "0.02", team="a", feature="f2", tags={"env": "dev"}),
    _call("c3", "2026-03-02T09:00:00Z", "gpt-4o-mini", "0.004", team="b"),
    _call("c4", "2026-03-02T09:30:00Z", "no-such-model-anywhere", None),
    {"type": "charge", "id": "g1", "amount": "0.003", "kind": "search_api", "at": "2026-03-01T12:00:00Z",
     "attribution": {"team": "a"}},
    {"type": "charge", "id": "g2", "amount": "0.001", "kind": "gpu", "at": "2026-03-02T13:00:00Z"},
]  # fmt: skip
"""Two days: team a's two calls ($0.03) and a charge ($0.003); team b's call ($0.004); an unpriced
call and a charge ($0.001) with no team."""

QUERIES = {
    "plain": "",
    "openai": "?provider=openai",
    "charges": "?charges=true",
    "team": "?by=team",
    "either": "?where=team=a&where=team=b&by=feature",
    "both": "?where=team=a&where=feature=f1",
    "days": "?by=provider&bucket=day&since=2026-03-01&until=2026-03-03T00:00:00Z",
    "tags": "?by=tag:env",
    "summary": "?view=summary",
    "summary-day": "?view=summary&since=2026-03-02&until=2026-03-03",
    "summary-parts": "?view=summary&parts=true",
    "parts": "?parts=true&where=team=a",
    "parts-off": "?parts=false",
    "compare": "?by=team&compare=previous&since=2026-03-02&until=2026-03-03&threshold=0.5",
    "compare-open": "?compare=previous",
    "metrics": "?by=team&metrics=true&budget_tokens=1000&parity=gpt-4o-mini,claude-x",
    "budget": "?budget_tokens=1000",
    "overview": "?view=overview&by=team,feature&compare=previous&since=2026-03-02&until=2026-03-03&top=1",
    "overview-all": "?view=overview",
}
DAY2 = (datetime(2026, 3, 2), datetime(2026, 3, 3))
REFUSED = {"after the data": "?compare=previous&since=2027-01-01"}
"""A comparison the data cannot serve: its current period would end before it starts."""


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Each query's answer, and what the analyses compute on the same store once the collector stops."""
    db = tmp_path_factory.mktemp("report") / "r.duckdb"
    app = Collector(ServerSettings(db=db), pricer=Pricer())

    async def scenario() -> dict[str, Answer]:
        await app.startup()
        try:
            body = "\n".join(json.dumps(r) for r in RECORDS).encode()
            stored = await call(app, "POST", "/v1/events", body, NDJSON)
            assert stored.status == 200, stored.body
            queries = {**QUERIES, **REFUSED}
            return {name: await call(app, "GET", f"/api/v1/report{q}") for name, q in queries.items()}
        finally:
            await app.shutdown()

    found: dict[str, Any] = {}
    for name, answer in asyncio.run(scenario()).items():
        assert answer.status == (400 if name in REFUSED else 200), (name, answer.body)
        found[name] = answer.json()
    team, day = Grouping(("team",)), Scope(*DAY2)
    with open_store(db, read_only=True) as store:
        found["direct team"] = _wire(analysis_json(analysis_report(store, Selection(grouping=team))))
        found["direct summary"] = _wire(summary_json(summary(store, Scope())))
        found["direct summary parts"] = _wire(summary_json(summary(store, Scope(), parts=True)))
        team_a = Selection(Scope(where=(("team", ("a",)),)))
        found["direct parts"] = _wire(analysis_json(analysis_report(store, team_a, Analyses(parts=True))))
        compared = analysis_report(store, Selection(day, team), Analyses("previous", threshold=0.5))
        found["direct compare"] = _wire(analysis_json(compared))
        metrics = Analyses(metrics=True, budget_tokens=1000, parity=("gpt-4o-mini", "claude-x"))
        found["direct metrics"] = _wire(
            analysis_json(analysis_report(store, Selection(grouping=team), metrics))
        )
        full = overview(store, day, by=("team", "feature"), compare="previous", top=1)
        found["direct overview"] = _wire(overview_json(full))
    return found


def _wire(data: dict[str, Any]) -> Any:
    """``data`` as an HTTP answer carries it."""
    return json.loads(json.dumps(data))


def _money(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def test_without_the_new_parameters_the_answer_is_as_before(answers: dict[str, Any]) -> None:
    plain = answers["plain"]
    assert set(plain) == {"since", "until", "rows", "total"}
    assert all(set(row) == ROW_KEYS for row in plain["rows"])
    assert set(plain["total"]) == ROW_KEYS - {"day", "provider", "model"}
    rows = [(r["day"], r["provider"], r["model"], r["calls"], _money(r["cost"])) for r in plain["rows"]]
    assert rows == [
        ("2026-03-01", "anthropic", "claude-x", 1, Decimal("0.02")),
        ("2026-03-01", "openai", "gpt-4o-mini", 1, Decimal("0.01")),
        ("2026-03-02", "openai", "gpt-4o-mini", 1, Decimal("0.004")),
        ("2026-03-02", "openai", "no-such-model-anywhere", 1, None),
    ]
    total = plain["total"]
    assert (total["calls"], _money(total["cost"]), total["unpriced"]) == (4, Decimal("0.034"), 1)
    assert (total["input_uncached"], total["cache_read"], total["output_visible"]) == (400, 50, 40)
    assert [r["usage_unknown"] for r in plain["rows"]] == [0, 0, 0, 0]  # every call reported all of it
    assert total["usage_unknown"] == 0
    assert answers["openai"]["total"]["calls"] == 3


def test_charges_come_in_their_days_rows_with_the_spend(answers: dict[str, Any]) -> None:
    data = answers["charges"]
    charged = [(r["day"], r["calls"], r["charges"], _money(r["charge_cost"])) for r in data["rows"]]
    assert ("2026-03-01", 0, 1, Decimal("0.003")) in charged
    assert ("2026-03-02", 0, 1, Decimal("0.001")) in charged
    assert all(r["provider"] is None for r in data["rows"] if r["charges"])
    total = data["total"]
    assert (total["charges"], _money(total["charge_cost"]), _money(total["spend"])) == (
        2,
        Decimal("0.004"),
        Decimal("0.038"),
    )


def test_grouped_by_team_is_the_attribution_table_with_its_kpis(answers: dict[str, Any]) -> None:
    data = answers["team"]
    assert data == answers["direct team"]  # the very analysis tokenomy report runs on the store
    assert (data["by"], data["bucket"], data["where"]) == (["team"], None, {})
    rows = {
        r["team"]: (r["calls"], r["charges"], _money(r["llm_cost"]), _money(r["cost"]), r["unpriced"])
        for r in data["rows"]
    }
    assert rows == {
        "a": (2, 1, Decimal("0.03"), Decimal("0.033"), 0),
        "b": (1, 0, Decimal("0.004"), Decimal("0.004"), 0),
        "(unattributed)": (1, 1, None, Decimal("0.001"), 1),
    }
    assert [r["team"] for r in data["rows"]] == ["(unattributed)", "a", "b"]
    assert data["rows"][1]["llm_cost"] == "0.030000000000"  # money as decimal strings, digits kept
    kpis = data["kpis"]
    assert (_money(kpis["spend"]["value"]), kpis["calls"]["value"], kpis["unpriced"]["value"]) == (
        Decimal("0.038"),
        4,
        1,
    )
    assert kpis["cost_per_session"]["value"] is not None
    assert data["notes"] == ["1 unpriced call(s): counted, not in the cost (never shown as $0)"]


def test_where_repeats_a_dimension_as_either_and_others_as_both(answers: dict[str, Any]) -> None:
    either = answers["either"]
    assert either["where"] == {"team": ["a", "b"]}
    assert {r["feature"]: r["calls"] for r in either["rows"]} == {"f1": 1, "f2": 1, "(unattributed)": 1}
    both = answers["both"]
    assert both["where"] == {"team": ["a"], "feature": ["f1"]}
    assert (both["total"]["calls"], _money(both["total"]["cost"])) == (1, Decimal("0.01"))


def test_buckets_and_tags(answers: dict[str, Any]) -> None:
    days = answers["days"]
    assert (days["since"], days["until"]) == ("2026-03-01T00:00:00Z", "2026-03-03T00:00:00Z")
    cells = {(r["provider"], r["bucket"]): r["calls"] for r in days["rows"]}
    assert cells == {
        ("anthropic", "2026-03-01T00:00:00Z"): 1,
        ("openai", "2026-03-01T00:00:00Z"): 1,
        ("openai", "2026-03-02T00:00:00Z"): 2,
        ("(unattributed)", "2026-03-01T00:00:00Z"): 0,  # the charges: no provider
        ("(unattributed)", "2026-03-02T00:00:00Z"): 0,
    }
    tags = {r["tag:env"]: r["calls"] for r in answers["tags"]["rows"]}
    assert tags == {"dev": 1, "prod": 1, "(unattributed)": 2}


def test_the_summary_is_the_default_report(answers: dict[str, Any]) -> None:
    data = answers["summary"]
    assert data == answers["direct summary"]
    assert data["period"] == {"since": "2026-03-01T00:00:00Z", "until": "2026-03-03T00:00:00Z"}
    assert (data["previous"], data["folded"]) == (None, 0)
    assert [(r["bucket"], r["calls"]) for r in data["over_time"]["rows"]] == [
        ("2026-03-01T00:00:00Z", 2),
        ("2026-03-02T00:00:00Z", 2),
    ]
    assert data["models"]["by"] == ["provider", "model"]
    day = answers["summary-day"]
    assert day["previous"] == {"since": "2026-03-01T00:00:00Z", "until": "2026-03-02T00:00:00Z"}
    spend = day["kpis"]["spend"]
    assert (_money(spend["value"]), _money(spend["previous"])) == (Decimal("0.005"), Decimal("0.033"))


def test_a_comparison_adds_the_drivers_and_baselines_over_the_current_period(answers: dict[str, Any]) -> None:
    data = answers["compare"]
    assert data == answers["direct compare"]  # the very analysis tokenomy report --compare runs
    assert (data["since"], data["until"]) == ("2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z")
    drivers = data["drivers"]
    assert (drivers["current"]["since"], drivers["baseline"]["since"]) == (
        "2026-03-02T00:00:00Z",
        "2026-03-01T00:00:00Z",
    )
    total = drivers["total"]
    assert (_money(total["baseline_cost"]), _money(total["current_cost"])) == (
        Decimal("0.033"),  # team a's two calls and its charge on the 1st
        Decimal("0.005"),  # team b's call and the unattributed charge on the 2nd
    )
    assert sum(_money(v) or 0 for v in total["parts"].values()) == Decimal("-0.028")
    assert [row["group"]["team"] for row in drivers["groups"]["team"]] == ["a", "b", "(unattributed)"]
    assert {b["intent"] for b in data["baselines"]} == {"(unattributed)"}
    assert data["kpis"]["spend"]["previous"] == "0.033000000000"
    open_ended = answers["compare-open"]  # no period: the last 7 days with calls, against the 7 before
    assert (open_ended["since"], open_ended["until"]) == ("2026-02-24T00:00:00Z", "2026-03-03T00:00:00Z")
    assert open_ended["drivers"]["baseline"]["until"] == "2026-02-24T00:00:00Z"
    assert "metrics" not in data


def test_metrics_budget_and_parity_add_the_metrics(answers: dict[str, Any]) -> None:
    data = answers["metrics"]
    assert data == answers["direct metrics"]
    names = [m["metric"] for m in data["metrics"]]
    assert names[-2:] == ["token_utilization", "latency_cost_parity"]
    assert {"token_efficiency", "cache_hit_ratio", "cost_per_session"} <= set(names)
    assert {tuple(m["by"]) for m in data["metrics"]} == {("team",), ("team", "intent")}  # per intent: parity
    assert "drivers" not in data
    budget = answers["budget"]  # one metric option alone makes the grouped report
    assert [m["metric"] for m in budget["metrics"]] == ["token_utilization"]
    assert budget["total"]["calls"] == 4


def test_the_overview_is_the_html_reports_data(answers: dict[str, Any]) -> None:
    data = answers["overview"]
    assert data == answers["direct overview"]
    assert data["period"] == {"since": "2026-03-02T00:00:00Z", "until": "2026-03-03T00:00:00Z"}
    assert data["table"]["by"] == ["team", "feature"]
    assert len(data["sessions"]["rows"]) == 1  # top=1
    assert data["sessions"]["sessions"] == 2
    assert set(data["over_time"]) == {"team", "model"}
    assert data["over_time"]["team"]["unit"] == "hour"
    assert data["drivers"]["total"]["current_cost"] == "0.005000000000"
    everything = answers["overview-all"]
    assert everything["table"]["by"] == ["team"]  # by default
    assert everything["drivers"] is None  # nothing before the data, and no room for the last 7 days
    assert everything["sessions"]["sessions"] == 4


def test_a_comparison_the_data_cannot_serve_is_a_400_naming_the_period(answers: dict[str, Any]) -> None:
    message = answers["after the data"]["error"]["message"]
    assert message == (
        "--since/--until: the period 2027-01-01..2026-03-03 is empty: without --until it ends with the data, "
        "whose last call is on 2026-03-02; give an earlier --since, or an --until"
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("compare=someday", "query parameter compare 'someday': use one of previous, last-week"),
        ("compare=2026-03-02..2026-03-01", "query parameter compare: the period 2026-03-02..2026-03-01 is"),
        ("threshold=-1", "query parameter threshold='-1' is not a number of 0 or more"),
        ("compare=previous&threshold=lots", "query parameter threshold='lots' is not a number of 0 or more"),
        ("metrics=maybe", "query parameter metrics='maybe' is not true or false"),
        ("budget_tokens=0", "query parameter budget_tokens=0 must be 1 or more"),
        ("budget_tokens=many", "query parameter budget_tokens='many' is not a whole number"),
        ("parity=gpt-4o", "query parameter parity: expected two models, MODEL_A,MODEL_B; got 'gpt-4o'"),
        ("view=overview&top=0", "query parameter top=0 must be 1 or more"),
        (
            "view=overview&bucket=day&metrics=true",
            "query parameter bucket and metrics cannot be combined with view=overview: the overview takes "
            "since, until, where, by, compare and top",
        ),
        ("view=overview&charges=true", "query parameter charges cannot be combined with view=overview"),
        ("view=overview&parts=true", "query parameter parts cannot be combined with view=overview"),
        ("parts=true&charges=true", "query parameter charges cannot be combined with parts"),
        ("parts=yes", "query parameter parts='yes' is not true or false"),
        ("view=summary&parts=true&by=team", "query parameter view cannot be combined with by"),
        ("view=summary&compare=previous", "query parameter view cannot be combined with compare"),
        ("compare=previous&charges=true", "query parameter charges cannot be combined with compare"),
        ("parity=a,b&model=m", "query parameter model cannot be combined with parity; the grouped"),
        ("by=nope", "unknown dimension 'nope' in query parameter by"),
        ("where=team", "query parameter where 'team': expected dimension=value"),
        ("where=nope=1", "unknown dimension 'nope' in query parameter where"),
        ("bucket=year", "query parameter bucket='year' is not one of hour, day, week, month"),
        ("view=all", "query parameter view='all' is not one of totals, summary, overview"),
        ("charges=maybe", "query parameter charges='maybe' is not true or false"),
        ("since=yesterday&by=team", "query parameter since='yesterday' is not a date"),
        ("by=team&by=model", "query parameter by is given more than once (only where repeats)"),
        ("by=team&provider=openai", "query parameter provider cannot be combined with by; the grouped"),
        ("where=team=a&view=summary", "query parameter view cannot be combined with where"),
        ("view=summary&model=m", "query parameter model cannot be combined with view=summary"),
        (
            "group=team",
            "unknown query parameter(s) group; this route takes since, until, provider, model, by",
        ),
    ],
)
def test_bad_parameters_are_a_400_that_names_them(tmp_path: Path, query: str, message: str) -> None:
    app = Collector(ServerSettings(db=tmp_path / "bad.duckdb"), pricer=Pricer())

    async def scenario() -> Answer:
        await app.startup()
        try:
            return await call(app, "GET", f"/api/v1/report?{query}")
        finally:
            await app.shutdown()

    answer = asyncio.run(scenario())
    assert answer.status == 400
    assert message in answer.json()["error"]["message"]


def test_the_plain_totals_count_the_calls_with_unknown_usage(tmp_path: Path) -> None:
    """Without ``charges=true`` the rows still say how many calls left usage unreported, and a token
    figure none of them reported is null, as ``tokenomy report --format json`` prints them."""
    known = dict.fromkeys(BUCKETS, 0)
    records = [  # u1 and u2 left their cache read unknown; u3 reported everything; u4 reported nothing
        {"id": "u1", "provider": "openai", "request_model": "gpt-4o", "started_at": "2026-03-01T10:00:00Z",
         "usage": known | {"input_uncached": 1000, "cache_read": None, "output_visible": 50}},
        {"id": "u2", "provider": "openai", "request_model": "gpt-4o", "started_at": "2026-03-01T11:00:00Z",
         "usage": known | {"input_uncached": 10, "cache_read": None, "output_visible": 5}},
        {"id": "u3", "provider": "openai", "request_model": "gpt-4o", "started_at": "2026-03-02T10:00:00Z",
         "usage": known | {"input_uncached": 200, "cache_read": 100, "output_visible": 20}},
        {"id": "u4", "provider": "openai", "request_model": "gpt-4o-mini",
         "started_at": "2026-03-02T11:00:00Z", "usage": {}},
    ]  # fmt: skip
    app = Collector(ServerSettings(db=tmp_path / "u.duckdb"), pricer=Pricer())

    async def scenario() -> dict[str, Answer]:
        await app.startup()
        try:
            body = "\n".join(json.dumps(r) for r in records).encode()
            stored = await call(app, "POST", "/v1/events", body, NDJSON)
            assert stored.status == 200, stored.body
            return {q: await call(app, "GET", f"/api/v1/report{q}") for q in ("", "?charges=true")}
        finally:
            await app.shutdown()

    answers = {q: a.json() for q, a in asyncio.run(scenario()).items()}
    plain = answers[""]
    rows = [
        (r["day"], r["model"], r["cache_read"], r["input_total"], r["usage_unknown"]) for r in plain["rows"]
    ]
    assert rows == [
        ("2026-03-01", "gpt-4o", None, None, 2),
        ("2026-03-02", "gpt-4o", 100, 300, 0),
        ("2026-03-02", "gpt-4o-mini", None, None, 1),
    ]
    assert (plain["total"]["cache_read"], plain["total"]["usage_unknown"]) == (100, 3)
    assert set(plain["total"]) == ROW_KEYS - {"day", "provider", "model"}
    charged = answers["?charges=true"]
    assert [r["usage_unknown"] for r in charged["rows"]] == [2, 0, 1]
    assert charged["total"]["usage_unknown"] == 3
    assert list(charged["total"]).count("usage_unknown") == 1


def test_the_split_by_part_is_asked_for_with_parts(answers: dict[str, Any]) -> None:
    assert answers["summary"]["split"] is None  # not unless asked: it costs a large store's scan
    assert answers["summary-parts"] == answers["direct summary parts"]
    split = answers["summary-parts"]["split"]
    assert Decimal(split["total"]) == Decimal("0.034")  # the three priced calls
    assert answers["parts"] == answers["direct parts"]  # the grouped report, team a's calls
    assert Decimal(answers["parts"]["split"]["total"]) == Decimal("0.03")
    assert answers["parts-off"] == answers["plain"]  # parts=false is no option at all
