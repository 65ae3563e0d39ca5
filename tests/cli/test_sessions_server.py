"""``tokenomy sessions --server`` and ``tokenomy session ID --server``: through a real collector on
127.0.0.1, they print what the store path prints for the same events, and fail clearly.

The same payloads go to a collector served by uvicorn and into a store file (tests/cli/collector_support.py),
so the two paths must agree character for character. Times are whole milliseconds here (the events'
native form); a session's records come through the API to the microsecond (tested with a stand-in).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.cli.collector_support import Served, answering, both, run_cli, serve
from tests.server.support import SpanSpec, request_bytes
from tokenomy.cli.collector_client import CollectorClient, CollectorError
from tokenomy.cli.main import main
from tokenomy.native import format_time
from tokenomy.schema import Call, Cost, Usage
from tokenomy.server import api
from tokenomy.store import open_store

TOKEN = "sessions-token-0123456789abcdef"
T0 = datetime(2026, 3, 1, 10, tzinfo=UTC)
TRACE = "11" * 16
OTLP_TRACE = "22" * 16
ROOT, A1, A2, B1, B2 = "aa" * 8, "a1" * 8, "a2" * 8, "b1" * 8, "b2" * 8
"""Span ids (hex, as OTLP stores them) of the agent span and of the calls below it."""


def _at(seconds: float) -> str:
    return format_time(T0 + timedelta(seconds=seconds))


def _ns(seconds: float) -> int:
    return round((T0 + timedelta(seconds=seconds)).timestamp() * 1000) * 1_000_000


def _usage(uncached: int, output: int, cache_read: int = 0) -> dict[str, int]:
    return {
        "input_uncached": uncached,
        "cache_read": cache_read,
        "cache_write_5m": 0,
        "cache_write_1h": 0,
        "output_visible": output,
        "reasoning": 0,
    }


def _cost(total: str) -> dict[str, Any]:
    return {"total": total, "currency": "USD", "source": "test", "price_date": "2026-03-01"}


def _call(cid: str, start: float, agent: str, **fields: Any) -> dict[str, Any]:
    team = fields.pop("team", "t")
    return {
        "id": cid,
        "provider": "openai",
        "request_model": "gpt-4o-mini",
        "started_at": _at(start),
        "ended_at": _at(start + 1),
        "latency_ms": 1000.0,
        "usage": _usage(100, 10),
        "attribution": {"team": team, "agent": agent},
        **fields,
    }


def _events() -> list[dict[str, Any]]:
    """Session S: main delegates to a helper below an agent span; a call adopted through its trace;
    an unpriced call; two charges; a session outcome. Q: one call that failed. W: four days later.
    G: a charge, no call. One call with neither session nor trace."""
    return [
        _call(
            "a1",
            0,
            "main",
            session_id="S",
            trace_id=TRACE,
            span_id=A1,
            parent_span_id=ROOT,
            cost=_cost("0.01"),
            tool_uses=[{"name": "delegate_helper", "args_hash": "h1h1h1h1h1"}],
        ),
        _call(
            "b1",
            1,
            "helper",
            session_id="S",
            trace_id=TRACE,
            span_id=B1,
            parent_span_id=A1,
            cost=_cost("0.002"),
            tool_uses=[{"name": "run_tests", "args_hash": "xxxxxxxxxx"}],
            usage=_usage(50, 5, cache_read=20),
        ),
        _call(
            "b2",
            3,
            "helper",
            trace_id=TRACE,
            span_id=B2,
            parent_span_id=A1,
            cost=_cost("0.003"),
            outcome={"success": True, "action": "tests_run"},
        ),
        _call(
            "a2",
            5,
            "main",
            session_id="S",
            trace_id=TRACE,
            span_id=A2,
            parent_span_id=ROOT,
            request_model="no-such-model-anywhere",
        ),
        _call("q", 9, "solo", session_id="Q", team="u", cost=_cost("0.0005"), status="error"),
        _call("w", 4 * 86_400, "solo", session_id="W", team="u", cost=_cost("0.004")),
        _call("loose", 9, "solo", team="u", cost=_cost("0.0001")),
        {"type": "charge", "id": "g", "amount": "0.001", "kind": "code_sandbox", "at": _at(2),
         "session_id": "S", "description": "run_tests", "attribution": {"team": "t"}},
        {"type": "charge", "id": "h", "amount": "0.001", "kind": "search_api", "at": _at(-1),
         "session_id": "S", "attribution": {"team": "t"}},
        {"type": "charge", "id": "wg", "amount": "0.02", "kind": "gpu", "at": _at(4 * 86_400 + 1),
         "session_id": "W"},
        {"type": "charge", "id": "gg", "amount": "0.00001", "kind": "search_api", "at": _at(6),
         "session_id": "G"},  # a session of charges alone
        {"type": "outcome", "target": "session", "id": "S", "success": True, "score": 0.9,
         "action": "merged", "at": _at(7)},
        {"type": "outcome", "target": "call", "id": "q", "success": False, "at": _at(10)},
    ]  # fmt: skip


def _spans() -> bytes:
    """An agent span naming session S above the calls of its trace; an OTLP model call in session O."""
    return request_bytes(
        [
            SpanSpec(
                TRACE,
                ROOT,
                name="invoke_agent main",
                start_ns=_ns(-0.5),
                end_ns=_ns(7),
                attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "main",
                            "session.id": "S"},
            ),
            SpanSpec(
                OTLP_TRACE,
                "33" * 8,
                name="invoke_agent planner",
                start_ns=_ns(20),
                end_ns=_ns(25),
                attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner",
                            "session.id": "O"},
            ),
            SpanSpec(
                OTLP_TRACE,
                "44" * 8,
                parent_span_id="33" * 8,
                name="chat gpt-4o-mini",
                start_ns=_ns(21),
                end_ns=_ns(22.25),
                attributes={"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                            "gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.model": "gpt-4o-mini",
                            "gen_ai.response.id": "resp-otlp-1", "gen_ai.usage.input_tokens": 1200,
                            "gen_ai.usage.output_tokens": 80},
            ),
        ]
    )  # fmt: skip


def _payloads() -> list[tuple[str, bytes, str]]:
    events = "\n".join(json.dumps(e) for e in _events()).encode()
    return [
        ("/v1/traces", _spans(), "application/x-protobuf"),
        ("/v1/events", events, "application/x-ndjson"),
    ]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(tmp_path_factory.mktemp("served"), _payloads(), token=TOKEN) as found:
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
        ("--top", "1"),
        ("--top", "2", "--format", "json"),
        ("--since", "2026-03-01", "--until", "2026-03-02", "--format", "json"),
        ("--since", "2026-03-01T10:00:05", "--format", "json"),
        ("--since", "2026-03-01T10:00:05", "--top", "2"),  # S's charges fall before: its bound is high
        ("--since", "2026-03-05"),
        ("--since", "2027-01-01"),
        ("--by", "team"),
        ("--by", "team", "--format", "json"),
        ("--by", "team,agent", "--top", "1", "--format", "csv"),
        ("--by", "model", "--since", "2026-03-01", "--until", "2026-03-02"),
        ("--where", "team=t"),
        ("--where", "team=u", "--format", "json"),
        ("--where", "team=t", "--where", "team=u", "--top", "2", "--format", "csv"),
        ("--where", "provider=openai", "--where", "agent=helper", "--format", "json"),
        ("--where", "team=(unattributed)"),
        ("--where", "team=nobody"),
        ("--by", "team", "--where", "agent=solo", "--since", "2026-03-01T10:00:05", "--format", "json"),
    ],
)
def test_sessions_through_the_collector_print_what_the_store_prints(
    served: Served, token: None, options: tuple[str, ...]
) -> None:
    remote, local = both(served, "sessions", *options)
    assert remote == local


def test_the_ranking_compared_is_the_one_expected(served: Served, token: None) -> None:
    remote, _ = both(served, "sessions", "--format", "json")
    data = json.loads(remote)
    assert [r["session_id"] for r in data["rows"]] == ["W", "S", "Q", "O", "G"]
    s = data["rows"][1]
    assert (s["calls"], s["charges"], s["cost"], s["unpriced"], s["outcome"], s["action"]) == (
        4,
        2,
        "0.017000000000",
        1,
        "success",
        "merged",
    )
    assert data["rows"][2]["outcome"] == "failure"
    assert (data["rows"][4]["calls"], data["rows"][4]["charges"], data["rows"][4]["cost"]) == (
        0,
        1,
        "0.000010000000",
    )
    assert (data["sessions"], data["no_session_calls"]) == (5, 1)
    remote, _ = both(served, "sessions")
    assert "most expensive sessions (of 5)" in remote
    assert "1 call(s) belong to no session" in remote
    # from 10:00:05 S has one unpriced call and no charge: Q passes it although S's listed bound is higher
    remote, _ = both(served, "sessions", "--since", "2026-03-01T10:00:05", "--top", "2", "--format", "csv")
    assert [line.split(",")[0] for line in remote.splitlines()[1:]] == ["W", "Q"]


@pytest.mark.parametrize("session_id", ["S", "Q", "W", "O"])
@pytest.mark.parametrize("fmt", ["table", "json"])
def test_one_session_through_the_collector_prints_what_the_store_prints(
    served: Served, token: None, session_id: str, fmt: str
) -> None:
    remote, local = both(served, "session", session_id, "--format", fmt)
    assert remote == local


def test_the_tree_compared_holds_spans_sub_agents_and_charges(served: Served, token: None) -> None:
    remote, _ = both(served, "session", "S")
    assert "session S  4 calls, 2 charges, $0.0170, outcome success, 1 unpriced" in remote
    assert "span main" in remote
    assert "sub-agent helper  subtotal $0.0060" in remote
    assert "charge code_sandbox (run_tests)  $0.0010  running $0.0140" in remote


def test_the_server_may_come_from_the_environment(
    served: Served, token: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, local = both(served, "session", "S")
    monkeypatch.setenv("TOKENOMY_SERVER", served.url)
    code, out = run_cli("session", "S")
    assert (code, out) == (0, local)
    # an explicit --db wins over the environment's server
    code, out = run_cli("session", "S", "--db", str(served.direct))
    assert (code, out) == (0, local)


def test_the_ranking_takes_one_request_for_every_option(
    served: Served, token: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The collector ranks (``GET /api/v1/sessions?view=top``): no page walk, no session read."""
    asked: list[tuple[str, list[tuple[str, str]]]] = []
    original = CollectorClient.get

    def get(client: CollectorClient, route: str, query: Any = None) -> dict[str, Any]:
        asked.append((route, list(query or ())))
        return original(client, route, query)

    monkeypatch.setattr(CollectorClient, "get", get)
    remote, local = both(
        served, "sessions", "--by", "team", "--where", "team=t", "--where", "team=u", "--top", "1"
    )
    assert remote == local
    assert asked == [
        (
            "/api/v1/sessions",
            [("where", "team=t"), ("where", "team=u"), ("view", "top"), ("top", "1"), ("by", "team")],
        )
    ]
    data = json.loads(both(served, "sessions", "--by", "team", "--top", "1", "--format", "json")[0])
    # W's charge names no team: the session stays with its call's team (u), where it outranks Q;
    # O, whose OTLP call names no team, is the (unattributed) one
    assert [(r["team"], r["session_id"]) for r in data["rows"]] == [
        ("(unattributed)", "O"),
        ("t", "S"),
        ("u", "W"),
    ]
    data = json.loads(both(served, "sessions", "--where", "team=u", "--format", "json")[0])
    assert [r["session_id"] for r in data["rows"]] == ["W", "Q"]
    assert data["no_session_calls"] == 1


def test_bad_options_fail_as_they_do_from_the_store(served: Served, token: None) -> None:
    for bad in (("--by", "colour"), ("--where", "team"), ("--where", "colour=red")):
        code, remote = run_cli("sessions", *bad, "--server", served.url)
        assert code == 2  # a usage error, as in `tokenomy report`
        assert "sessions --help' for help." in remote
        assert (code, remote) == run_cli("sessions", *bad, "--db", str(served.direct))
    code, out = run_cli("sessions", "--server", served.url, "--db", str(served.direct))
    assert code == 2
    assert "--db and --server" in out


def test_an_unknown_session_fails_as_the_store_path_does(
    served: Served, token: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["session", "nope", "--db", str(served.direct)]) == 1
    from_store = capsys.readouterr().err
    assert main(["session", "nope", "--server", served.url]) == 1
    assert capsys.readouterr().err == from_store
    assert "no call or charge belongs to session 'nope'" in from_store


@pytest.mark.parametrize("given", [None, "wrong-token-0123456789abcdef"])
def test_a_missing_or_wrong_token_names_the_variable_and_never_shows_it(
    served: Served, given: str | None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TOKENOMY_SERVER", raising=False)
    if given is None:
        monkeypatch.delenv("TOKENOMY_SERVER_TOKEN", raising=False)
    else:
        monkeypatch.setenv("TOKENOMY_SERVER_TOKEN", given)
    for args in (["sessions"], ["session", "S"]):
        assert main([*args, "--server", served.url]) == 1
        err = capsys.readouterr().err
        assert f"the collector at {served.url} refused GET /api/v1/" in err
        assert "(401)" in err
        assert ("is wrong" if given else "the token is missing") in err
        assert "TOKENOMY_SERVER_TOKEN" in err
        assert TOKEN not in err
        assert given is None or given not in err


def test_a_collector_that_is_not_running_is_named(token: None, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    for args in (["sessions"], ["session", "S"]):
        assert main([*args, "--server", url]) == 1
        err = capsys.readouterr().err
        assert f"cannot reach the collector at {url}: connection refused" in err
        assert "tokenomy serve" in err


class _NotJSON(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html><body>a login page</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def test_an_answer_that_is_not_json_is_named(token: None, capsys: pytest.CaptureFixture[str]) -> None:
    httpd = HTTPServer(("127.0.0.1", 0), _NotJSON)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        for args in (["sessions"], ["session", "S"]):
            assert main([*args, "--server", url]) == 1
            err = capsys.readouterr().err
            assert f"the collector at {url} answered GET /api/v1/sessions" in err
            assert "not a JSON object (text/html: '<html><body>a login page</body></html>')" in err
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_collector_that_does_not_answer_times_out() -> None:
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        with (
            CollectorClient(url, timeout=0.3) as client,
            pytest.raises(CollectorError, match=r"did not answer within 0\.3 s"),
        ):
            client.get("/api/v1/sessions")
        assert time.monotonic() - started < 5


@pytest.mark.parametrize("url", ["127.0.0.1:4318", "ftp://127.0.0.1", "http://", "http://h:99999"])
def test_a_url_that_is_not_a_collectors_is_refused(url: str) -> None:
    with pytest.raises(CollectorError, match="--server"):
        CollectorClient(url)


def test_a_collector_older_than_the_cli_is_told_apart(
    token: None, capsys: pytest.CaptureFixture[str]
) -> None:
    older = (
        "unknown query parameter(s) top, view; this route takes since, until, provider, model, limit, offset"
    )
    repeated = "query parameter where is given more than once; give it once"
    other = "query parameter since='x' is not a date"
    # a collector from before the sessions' ranking, then one whose answer is not a ranking
    answers: list[tuple[int, dict[str, Any]]] = [
        (400, {"error": {"status": 400, "message": older}}),
        (400, {"error": {"status": 400, "message": repeated}}),
        (200, {"sessions": [], "next_offset": None}),  # the list: it knew the parameters, not the view
        (400, {"error": {"status": 400, "message": other}}),
    ]
    recent = "is the collector's tokenomy as recent as this one?"
    with answering(answers) as (url, asked):
        assert main(["sessions", "--server", url]) == 1
        err = capsys.readouterr().err
        assert (
            err == f"error: the collector at {url} answered 400 to GET /api/v1/sessions: {older}; {recent}\n"
        )
        assert main(["sessions", "--where", "team=a", "--where", "team=b", "--server", url]) == 1
        err = capsys.readouterr().err  # a collector from before the ranking refuses the repeated where
        assert (
            err
            == f"error: the collector at {url} answered 400 to GET /api/v1/sessions: {repeated}; {recent}\n"
        )
        assert main(["sessions", "--by", "team", "--server", url]) == 1
        err = capsys.readouterr().err
        assert (
            f"the collector at {url} answered GET /api/v1/sessions with a ranking that does not read" in err
        )
        assert "KeyError" in err
        assert err.endswith(f"; {recent}\n")
        assert err.count("\n") == 1
        assert main(["sessions", "--server", url]) == 1
        err = capsys.readouterr().err  # a 400 about a value: no hint about versions
        assert err == f"error: the collector at {url} answered 400 to GET /api/v1/sessions: {other}\n"
        assert asked[0] == "/api/v1/sessions?view=top&top=20"
        assert asked[1] == "/api/v1/sessions?where=team%3Da&where=team%3Db&view=top&top=20"


def test_an_error_about_a_very_long_id_shows_its_start_and_length(
    token: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 400 to GET /api/v1/sessions/{id} for a 5,000-character id, whose message repeats the id."""
    long_id = "y" * 5_000
    answers: list[tuple[int, dict[str, Any]]] = [(400, {"error": {"status": 400, "message": long_id}})]
    with answering(answers) as (url, asked):
        assert main(["session", long_id, "--server", url]) == 1
    err = capsys.readouterr().err
    route = f"/api/v1/sessions/{long_id}"
    assert asked == [route]  # the id is asked for whole
    assert err == (
        f"error: the collector at {url} answered 400 to GET {route[:200]}... (5,017 characters): "
        f"{'y' * 200}... (5,000 characters)\n"
    )


def test_a_tree_from_microsecond_times_is_the_stores(
    tmp_path: Path, token: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """b starts 300 µs after a and ends 400 µs before it, within one millisecond: cut to milliseconds,
    the two would start and end together, and the running total would count them in another order."""
    db = tmp_path / "us.duckdb"
    t0 = datetime(2026, 3, 1, 10, 0, 0, 100)
    with open_store(db) as store:
        store.insert_calls(
            [
                Call(
                    id=cid,
                    session_id="S",
                    provider="openai",
                    request_model="gpt-4o",
                    started_at=t0 + timedelta(microseconds=start),
                    ended_at=t0 + timedelta(microseconds=end),
                    usage=Usage.of(input_uncached=10, output_visible=1),
                    cost=Cost(total=Decimal(amount), source="test"),
                )
                for cid, start, end, amount in (("a", 0, 900, "0.01"), ("b", 300, 500, "0.02"))
            ]
        )
        status, body = api.session(store, "S")
    assert status == 200
    assert [c["started_at"] for c in body["calls"]] == [
        "2026-03-01T10:00:00.000100Z",
        "2026-03-01T10:00:00.000400Z",
    ]
    with answering([(200, body)]) as (url, _):
        assert main(["session", "S", "--format", "json", "--server", url]) == 0
    remote = capsys.readouterr().out
    assert main(["session", "S", "--format", "json", "--db", str(db)]) == 0
    assert remote == capsys.readouterr().out
    running = {s["id"]: s["running_total"] for s in json.loads(remote)["steps"]}
    assert running == {"b": "0.020000000000", "a": "0.030000000000"}  # b ended first


def test_an_id_holding_a_slash_is_read_through_the_collector(tmp_path: Path, token: None) -> None:
    """The collector reads an item's id from the path as sent, so a '/' sent as %2F stays in the id
    (the decoded path made it two segments: a 404, and the CLI refused such a session)."""
    odd = "team/a b ü"
    calls = [
        _call("c/1", 0, "solo", session_id=odd, cost=_cost("0.01")),
        _call("c/2", 2, "solo", session_id=odd),
    ]
    payload = ("/v1/events", "\n".join(json.dumps(c) for c in calls).encode(), "application/x-ndjson")
    with serve(tmp_path, [payload], token=TOKEN) as served:
        remote, local = both(served, "session", odd, "--format", "json")
        assert remote == local
        assert [s["id"] for s in json.loads(remote)["steps"]] == ["c/1", "c/2"]
        with CollectorClient(served.url, TOKEN) as client:
            assert client.get("/api/v1/calls/c%2F1")["id"] == "c/1"
