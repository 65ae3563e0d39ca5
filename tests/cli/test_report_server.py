"""``tokenomy report --server``: through a real collector on 127.0.0.1 it prints what the store path
prints for the same records (table, JSON, CSV and HTML; --since, --until, --by, --bucket, --where,
--compare, --threshold, --metrics, --budget-tokens, --parity, --top), refuses what it refuses from
the store alike, and fails in one clear line.

The same payloads go to a collector served by uvicorn and into a store file
(tests/cli/collector_support.py), so the two outputs must agree character for character.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.cli.collector_support import Payload, Served, answering, both, run_cli, serve
from tests.server.support import SpanSpec, request_bytes
from tokenomy.cli.main import main
from tokenomy.native import format_time
from tokenomy.schema import BUCKETS

TOKEN = "report-token-0123456789abcdefgh"
T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
TEAMS = ("search", "support", None)
MODELS = (("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-5-20250929"), ("openai", "gpt-4o"))


def _at(hours: float) -> str:
    return format_time(T0 + timedelta(hours=hours))


def _events() -> list[dict[str, Any]]:
    """Eight days of calls: three teams (one unnamed), two features, an env tag on some, three
    models with hand-given costs, an unpriced model each third day, a charge a day (every other
    one without a team)."""
    out: list[dict[str, Any]] = []
    for day in range(8):
        for n in range(3 + day % 3):
            provider, model = MODELS[(day + n) % 3]
            team = TEAMS[(day * 3 + n) % 3]
            attribution: dict[str, Any] = {
                "feature": "chat" if n % 2 else "summarize",
                "intent": "answer" if (day + n) % 3 else "triage",
            }
            if team is not None:
                attribution["team"] = team
            if n % 2 == 0:
                attribution["tags"] = {"env": "prod" if day % 2 else "dev"}
            usage = dict.fromkeys(BUCKETS, 0) | {
                "input_uncached": 1000 + 37 * n + 11 * day,
                "cache_read": 200 * (n % 2),
                "output_visible": 90 + 7 * n,
            }
            record: dict[str, Any] = {
                "id": f"d{day}n{n}",
                "provider": provider,
                "request_model": model,
                "started_at": _at(24 * day + 2 * n),
                "ended_at": _at(24 * day + 2 * n + 0.01),
                "usage": usage,
                "attribution": attribution,
                "session_id": f"sess-{day}-{n // 2}",
            }
            if day % 3 == 2 and n == 0:
                record["request_model"] = "no-such-model-anywhere"  # unpriced
            else:
                total = Decimal("0.0013") * (n + 1) + Decimal("0.000000000007") * day
                record["cost"] = {"total": str(total), "currency": "USD", "source": "test"}
            out.append(record)
        charge: dict[str, Any] = {"type": "charge", "id": f"g{day}", "amount": f"0.00{day + 1}",
                                  "kind": "search_api", "at": _at(24 * day + 5)}  # fmt: skip
        if day % 2 == 0:
            charge["attribution"] = {"team": "search", "feature": "summarize"}
        out.append(charge)
    return out


def _spans() -> bytes:
    """A GenAI span of an OTLP exporter (priced from the catalog as it is stored) on day 4."""
    start = int((T0 + timedelta(days=4, hours=7)).timestamp()) * 1_000_000_000
    return request_bytes(
        [
            SpanSpec(
                "33" * 16,
                "44" * 8,
                name="chat gpt-4o-mini",
                start_ns=start,
                end_ns=start + 1_250_000_000,
                attributes={"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                            "gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.id": "resp-otlp-7",
                            "gen_ai.usage.input_tokens": 1500, "gen_ai.usage.output_tokens": 120},
            )
        ]
    )  # fmt: skip


def _payloads() -> list[Payload]:
    events = "\n".join(json.dumps(e) for e in _events()).encode()
    return [
        ("/v1/events", events, "application/x-ndjson"),
        ("/v1/traces", _spans(), "application/x-protobuf"),
    ]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(tmp_path_factory.mktemp("report"), _payloads(), token=TOKEN) as found:
        yield found


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOKENOMY_SERVER", raising=False)
    monkeypatch.setenv("TOKENOMY_SERVER_TOKEN", TOKEN)


@pytest.mark.parametrize(
    "options",
    [
        (),
        ("--format", "json"),
        ("--format", "csv"),
        ("--since", "2026-03-05", "--until", "2026-03-09"),  # trends against the four days before
        ("--since", "2026-03-02T06:30:00", "--format", "json"),
        ("--until", "2026-03-04", "--format", "csv"),
        ("--by", "team"),
        ("--by", "team,feature", "--format", "json"),
        ("--by", "team,feature", "--format", "csv"),
        ("--bucket", "day"),
        ("--by", "model", "--bucket", "week", "--format", "json"),
        ("--by", "provider", "--bucket", "hour", "--since", "2026-03-03", "--until", "2026-03-04"),
        ("--where", "team=search", "--where", "team=(unattributed)", "--by", "feature"),
        ("--where", "model=gpt-4o-mini", "--format", "json"),
        ("--by", "tag:env", "--where", "feature=chat", "--format", "csv"),
        ("--by", "session", "--since", "2026-03-06", "--format", "json"),
        ("--since", "2027-01-01"),
        ("--since", "2027-01-01", "--by", "team"),
        ("--since", "2027-01-01", "--format", "json"),
        # the analyses: cost drivers and intent baselines, metrics, the HTML report
        ("--compare", "previous"),
        ("--by", "team", "--compare", "previous", "--since", "2026-03-05", "--until", "2026-03-09"),
        ("--compare", "2026-03-01..2026-03-04", "--since", "2026-03-05", "--format", "json"),
        ("--by", "feature", "--compare", "last-week", "--threshold", "0.1", "--format", "json"),
        ("--compare", "previous", "--where", "team=search", "--format", "json"),
        ("--compare", "previous", "--since", "2027-01-01", "--until", "2027-01-08", "--format", "json"),
        ("--metrics",),
        ("--by", "team", "--metrics", "--format", "json"),
        ("--parts",),  # where the LLM cost goes, over the whole selection
        ("--parts", "--since", "2026-03-05", "--format", "json"),
        ("--by", "team", "--parts", "--where", "feature=chat", "--format", "json"),
        ("--by", "team,feature", "--parts", "--format", "csv"),
        ("--budget-tokens", "5000", "--by", "model", "--bucket", "day", "--format", "json"),
        ("--parity", "gpt-4o-mini,gpt-4o", "--by", "intent"),
        ("--budget-tokens", "5000"),
        ("--parity", "gpt-4o-mini,gpt-4o", "--since", "2026-03-04"),
        (
            "--by",
            "intent",
            "--metrics",
            "--budget-tokens",
            "5000",
            "--parity",
            "gpt-4o,gpt-4o-mini",
            "--compare",
            "previous",
            "--where",
            "feature=chat",
            "--format",
            "json",
        ),
        ("--metrics", "--since", "2027-01-01", "--format", "json"),
        ("--format", "html"),
        (
            "--format",
            "html",
            "--since",
            "2026-03-05",
            "--until",
            "2026-03-09",
            "--by",
            "team,feature",
            "--compare",
            "last-week",
            "--top",
            "3",
        ),
        ("--format", "html", "--where", "team=search", "--compare", "2026-03-01..2026-03-03"),
        ("--format", "html", "--bucket", "day", "--metrics", "--threshold", "0.5"),  # read as --db reads them
        ("--format", "html", "--since", "2027-01-01"),
    ],
)
def test_the_report_through_the_collector_prints_what_the_store_prints(
    served: Served, token: None, options: tuple[str, ...]
) -> None:
    remote, local = both(served, "report", *options)
    assert remote == local


def test_the_outputs_compared_hold_the_records_figures(served: Served, token: None) -> None:
    remote, _ = both(served, "report", "--by", "team", "--format", "json")
    data = json.loads(remote)
    rows = {r["team"]: r for r in data["rows"]}
    assert set(rows) == {"search", "support", "(unattributed)"}
    assert sum(r["calls"] for r in data["rows"]) == data["total"]["calls"] == 32  # 31 events + 1 span
    assert data["total"]["charges"] == 8
    assert data["total"]["charge_cost"] == "0.036000000000"  # 0.001 + ... + 0.008
    assert data["total"]["unpriced"] == 2  # days 2 and 5
    assert rows["search"]["charges"] == 4
    assert data["kpis"]["calls"]["value"] == 32
    assert Decimal(data["kpis"]["spend"]["value"]) == Decimal(data["total"]["cost"])
    remote, _ = both(served, "report", "--format", "json")
    first = json.loads(remote)
    charges = [r for r in first["rows"] if r["provider"] is None]
    assert [(r["day"], r["charges"], r["charge_cost"]) for r in charges][:2] == [
        ("2026-03-01", 1, "0.001000000000"),
        ("2026-03-02", 1, "0.002000000000"),
    ]
    assert first["total"]["spend"] == str(Decimal(first["total"]["cost"]) + Decimal("0.036"))
    remote, _ = both(served, "report", "--since", "2026-03-05", "--until", "2026-03-09")
    assert "tokenomy report · 2026-03-05..2026-03-09 · trends against 2026-03-01..2026-03-05" in remote
    assert "spend by provider and model" in remote
    where = ("--where", "team=search", "--where", "team=(unattributed)", "--format", "json")
    remote, _ = both(served, "report", *where)
    either = json.loads(remote)["total"]
    assert either["calls"] == rows["search"]["calls"] + rows["(unattributed)"]["calls"]
    assert Decimal(either["cost"]) == Decimal(rows["search"]["cost"]) + Decimal(
        rows["(unattributed)"]["cost"]
    )


def test_json_and_csv_may_go_to_a_file(served: Served, token: None, tmp_path: Path) -> None:
    for fmt in ("json", "csv"):
        paths = [tmp_path / f"remote.{fmt}", tmp_path / f"local.{fmt}"]
        code, _ = run_cli(
            "report", "--by", "team", "--format", fmt, "-o", str(paths[0]), "--server", served.url
        )
        assert code == 0
        code, _ = run_cli(
            "report", "--by", "team", "--format", fmt, "-o", str(paths[1]), "--db", str(served.direct)
        )
        assert code == 0
        assert paths[0].read_text() == paths[1].read_text()


def test_the_server_may_come_from_the_environment(
    served: Served, token: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, local = both(served, "report", "--by", "team")
    monkeypatch.setenv("TOKENOMY_SERVER", served.url)
    assert run_cli("report", "--by", "team") == (0, local)
    # an explicit --db wins over the environment's server
    assert run_cli("report", "--by", "team", "--db", str(served.direct)) == (0, local)


def test_the_analyses_compared_hold_the_records_figures(served: Served, token: None) -> None:
    week = ("--since", "2026-03-05", "--until", "2026-03-09")
    remote, _ = both(served, "report", "--by", "team", "--compare", "previous", *week, "--format", "json")
    data = json.loads(remote)
    drivers = data["drivers"]
    assert (drivers["current"]["since"], drivers["baseline"]["since"]) == (
        "2026-03-05T00:00:00Z",
        "2026-03-01T00:00:00Z",
    )
    total = drivers["total"]
    assert Decimal(total["current_cost"]) == Decimal(data["total"]["cost"])
    assert sum(Decimal(v) for v in total["parts"].values()) == Decimal(total["change"])
    assert Decimal(total["parts"]["charges"]) == Decimal("0.026") - Decimal("0.010")  # days 5-8 against 1-4
    assert {r["group"]["team"] for r in drivers["groups"]["team"]} == {"search", "support", "(unattributed)"}
    assert {b["intent"] for b in data["baselines"]} >= {"answer", "triage"}
    assert data["kpis"]["calls"]["previous"] == 15
    assert "split" not in data  # asked for with --parts only
    remote, _ = both(served, "report", "--by", "team", "--parts", *week, "--format", "json")
    data = json.loads(remote)
    split = data["split"]
    assert Decimal(split["total"]) == Decimal(data["total"]["llm_cost"])  # the priced calls' cost
    assert sum(Decimal(part["cost"]) for part in split["parts"]) == Decimal(split["total"])
    metrics = ("--metrics", "--budget-tokens", "5000", "--parity", "gpt-4o-mini,gpt-4o")
    remote, _ = both(served, "report", "--by", "team", *metrics, "--format", "json")
    names = [m["metric"] for m in json.loads(remote)["metrics"]]
    assert names[-2:] == ["token_utilization", "latency_cost_parity"]
    assert len(names) > 10
    remote, _ = both(served, "report", "--compare", "previous", *week)
    assert "why spend changed" in remote
    assert "dominant driver per group" in remote
    assert "intent baselines (tokens per call)" in remote
    remote, _ = both(served, "report", "--format", "html", *week, "--top", "2")
    assert remote.startswith("<!DOCTYPE html>")
    assert "Why spend changed: 2026-03-01..2026-03-05 → 2026-03-05..2026-03-09" in remote
    assert "Most expensive sessions (of 9)" in remote
    assert remote.count('<span class="pill') == 2


def test_the_html_report_may_go_to_a_file(served: Served, token: None, tmp_path: Path) -> None:
    paths = {source: tmp_path / f"{source}.html" for source in ("remote", "local")}
    options = ("report", "--format", "html", "--by", "feature", "--compare", "last-week")
    code, out = run_cli(*options, "-o", str(paths["remote"]), "--server", served.url)
    assert (code, out) == (0, f"wrote {paths['remote']}\n")
    assert run_cli(*options, "-o", str(paths["local"]), "--db", str(served.direct))[0] == 0
    assert paths["remote"].read_text() == paths["local"].read_text()
    assert "Spend by feature" in paths["remote"].read_text()


def test_the_db_and_the_server_together_are_refused(served: Served, token: None) -> None:
    code, out = run_cli("report", "--server", served.url, "--compare", "previous", "--db", "x.duckdb")
    assert code == 2
    assert "--db and --server name two sources" in " ".join(out.split())


@pytest.mark.parametrize(
    "options",
    [
        ("--compare", "yesterday"),
        ("--compare", "2026-03-05..2026-03-01", "--format", "html"),
        ("--compare", ""),
        ("--parity", "gpt-4o"),
        ("--parity", "gpt-4o,gpt-4o-mini,o3", "--format", "json"),
        ("--threshold", "-1", "--compare", "previous"),
        ("--budget-tokens", "0"),
    ],
)
def test_bad_analysis_options_fail_as_they_do_from_the_store(
    served: Served, token: None, options: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["report", *options, "--db", str(served.direct)])
    from_store = capsys.readouterr().err
    assert code in (1, 2)
    assert main(["report", *options, "--server", served.url]) == code
    assert capsys.readouterr().err == from_store


def test_a_comparison_the_data_cannot_serve_names_the_period(
    served: Served, token: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """--since after the last call leaves --compare no current period: the store path's error, and
    the collector's 400 with the same words (the one error that comes from the data, not the options)."""
    options = ["report", "--since", "2027-01-01", "--compare", "previous"]
    assert main([*options, "--db", str(served.direct)]) == 1
    from_store = capsys.readouterr().err.removeprefix("error: ")
    assert from_store.startswith("--since/--until: the period 2027-01-01..2026-03-09 is empty")
    assert main([*options, "--server", served.url]) == 1
    assert capsys.readouterr().err == (
        f"error: the collector at {served.url} answered 400 to GET /api/v1/report: {from_store}"
    )


def test_bad_dimensions_fail_as_they_do_from_the_store(
    served: Served, token: None, capsys: pytest.CaptureFixture[str]
) -> None:
    for options in (["--by", "nope"], ["--where", "team"], ["--where", "nope=1"]):
        assert main(["report", *options, "--db", str(served.direct)]) == 2  # a usage error
        from_store = capsys.readouterr().err
        assert main(["report", *options, "--server", served.url]) == 2
        assert capsys.readouterr().err == from_store


@pytest.mark.parametrize("given", [None, "wrong-token-0123456789abcdef"])
def test_a_missing_or_wrong_token_names_the_variable_and_never_shows_it(
    served: Served, given: str | None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TOKENOMY_SERVER", raising=False)
    if given is None:
        monkeypatch.delenv("TOKENOMY_SERVER_TOKEN", raising=False)
    else:
        monkeypatch.setenv("TOKENOMY_SERVER_TOKEN", given)
    for options in ([], ["--by", "team"], ["--format", "json"]):
        assert main(["report", *options, "--server", served.url]) == 1
        err = capsys.readouterr().err
        assert f"the collector at {served.url} refused GET /api/v1/report (401)" in err
        assert ("is wrong" if given else "the token is missing") in err
        assert "TOKENOMY_SERVER_TOKEN" in err
        assert TOKEN not in err
        assert given is None or given not in err
        assert err.count("\n") == 1


def test_a_collector_that_is_not_running_is_named(
    served: Served, token: None, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "http://127.0.0.1:9"  # discard: nobody listens there
    assert main(["report", "--server", url]) == 1
    err = capsys.readouterr().err
    assert f"cannot reach the collector at {url}: connection refused" in err
    assert "tokenomy serve" in err
    # a URL whose path is not the collector's: its 404, in one line
    assert main(["report", "--by", "team", "--server", f"{served.url}/not-here"]) == 1
    err = capsys.readouterr().err
    assert f"the collector at {served.url}/not-here answered 404 to GET /api/v1/report" in err
    assert "no route /not-here/api/v1/report" in err


def test_a_400_or_an_answer_that_does_not_read_ends_in_one_line(
    token: None, capsys: pytest.CaptureFixture[str]
) -> None:
    older = "unknown query parameter(s) view; this route takes since, until, provider, model"
    other = "query parameter bucket='year' is not one of hour, day, week, month"
    no_overview = "query parameter view='overview' is not one of totals, summary"
    # a collector of an earlier version (the report takes no view, charges, by...), then one whose
    # answer is not a report, then one from before the overview
    answers: list[tuple[int, dict[str, Any]]] = [
        (400, {"error": {"status": 400, "message": older}}),
        (200, {"since": None}),
        (400, {"error": {"status": 400, "message": other}}),
        (400, {"error": {"status": 400, "message": no_overview}}),
    ]
    with answering(answers) as (url, _):
        assert main(["report", "--server", url]) == 1
        err = capsys.readouterr().err
        assert err == (  # the parameter named is one this CLI sent, not one the user typed
            f"error: the collector at {url} answered 400 to GET /api/v1/report: {older}; "
            "is the collector's tokenomy as recent as this one?\n"
        )
        assert main(["report", "--by", "team", "--server", url]) == 1
        err = capsys.readouterr().err
        assert f"the collector at {url} answered GET /api/v1/report with a report that does not read" in err
        assert "KeyError" in err
        assert err.endswith("; is the collector's tokenomy as recent as this one?\n")
        assert err.count("\n") == 1
        assert main(["report", "--by", "team", "--bucket", "day", "--server", url]) == 1
        err = capsys.readouterr().err  # a 400 about a value the user gave: no hint about versions
        assert err == f"error: the collector at {url} answered 400 to GET /api/v1/report: {other}\n"
        assert main(["report", "--format", "html", "--server", url]) == 1
        err = capsys.readouterr().err  # a collector from before the overview: a view it does not know
        assert err == (
            f"error: the collector at {url} answered 400 to GET /api/v1/report: {no_overview}; "
            "is the collector's tokenomy as recent as this one?\n"
        )


def test_amounts_under_a_millionth_print_alike_and_fixed_point(tmp_path: Path, token: None) -> None:
    from tests.server.test_api_money import RECORDS

    events = "\n".join(json.dumps(r) for r in RECORDS).encode()
    day = ("--since", "2026-03-02", "--until", "2026-03-03")
    with serve(tmp_path, [("/v1/events", events, "application/x-ndjson")], token=TOKEN) as tiny:
        grouped, local = both(tiny, "report", "--by", "team", *day, "--format", "json")
        assert grouped == local
        first, local = both(tiny, "report", *day, "--format", "json")
        assert first == local
    data = json.loads(grouped)
    assert data["kpis"]["spend"]["value"] == data["total"]["cost"] == "0.000000125000"
    assert json.loads(first)["total"]["spend"] == "0.000000125000"
    assert "E-" not in grouped + first


def test_unknown_usage_prints_alike_null_and_counted(tmp_path: Path, token: None) -> None:
    known = dict.fromkeys(BUCKETS, 0)
    records = [  # one call a day: the first day's did not report its cache read (nor its input total)
        {"id": "u1", "provider": "openai", "request_model": "gpt-4o", "started_at": _at(0),
         "usage": known | {"input_uncached": 1000, "cache_read": None, "output_visible": 50},
         "attribution": {"team": "search"}},
        {"id": "u2", "provider": "openai", "request_model": "gpt-4o", "started_at": _at(24),
         "usage": known | {"input_uncached": 200, "cache_read": 100, "output_visible": 20},
         "attribution": {"team": "support"}},
    ]  # fmt: skip
    events = "\n".join(json.dumps(r) for r in records).encode()
    with serve(tmp_path, [("/v1/events", events, "application/x-ndjson")], token=TOKEN) as unknown:
        outputs = {
            options: both(unknown, "report", *options)
            for options in (
                ("--format", "json"),
                ("--format", "csv"),
                (),
                ("--by", "team", "--format", "json"),
                ("--by", "team", "--format", "csv"),
                ("--format", "html"),
            )
        }
    for remote, local in outputs.values():
        assert remote == local
    first = json.loads(outputs[("--format", "json")][0])
    assert [(r["cache_read"], r["input_total"], r["usage_unknown"]) for r in first["rows"]] == [
        (None, None, 1),
        (100, 300, 0),
    ]
    line = "2026-03-01,openai,gpt-4o,1,1000,,0,0,50,0,,50,0.003000000000,0,0,,0.003000000000,0.003000000000,1"
    assert outputs[("--format", "csv")][0].splitlines()[1] == line
    grouped = json.loads(outputs[("--by", "team", "--format", "json")][0])
    assert [(r["team"], r["cache_read"], r["usage_unknown"]) for r in grouped["rows"]] == [
        ("search", None, 1),
        ("support", 100, 0),
    ]


def test_a_collector_whose_rows_carry_no_parts_is_told_apart(
    served: Served, token: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # a collector from after the split but before the rows' parts: it takes parts=true and answers
    # the grouped report with its split but rows without part_<part> (here: the same answer, stripped)
    code, text = run_cli("report", "--by", "team", "--parts", "--format", "json", "--db", str(served.direct))
    assert code == 0, text
    answer = json.loads(text)
    for row in (*answer["rows"], answer["total"]):
        for name in [key for key in row if key.startswith("part_")]:
            del row[name]
    with answering([(200, answer)]) as (url, asked):
        assert main(["report", "--by", "team", "--parts", "--format", "csv", "--server", url]) == 1
    err = capsys.readouterr().err
    assert "its rows carry no cost per part (part_<part>), which parts=true asks for" in err
    assert err.endswith("; is the collector's tokenomy as recent as this one?\n")
    assert "parts=true" in asked[0]
