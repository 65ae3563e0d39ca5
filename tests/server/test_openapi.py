"""Every route of /openapi.json exists and answers as the document says (status, type, required keys)."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

from tests.server.support import Answer, SpanSpec, call, genai_attributes, hex_id, request_bytes
from tokenomy.gateway.key_store import create_key
from tokenomy.pricing import Pricer
from tokenomy.schema import Attribution
from tokenomy.server.app import Collector
from tokenomy.server.events_ingest import NDJSON_TYPES
from tokenomy.server.openapi import document
from tokenomy.server.settings import ServerSettings
from tokenomy.store import DuckDBStore

TOKEN = "openapi-test-token-0123456789abcdef"
AUTH = {"authorization": f"Bearer {TOKEN}"}


def _bodies() -> dict[tuple[str, str], bytes]:
    rng = random.Random(5)
    trace = hex_id(rng, 16)
    spans = [SpanSpec(trace, hex_id(rng, 8), attributes={**genai_attributes(rng, 1), "session.id": "S-doc"})]
    call_record = {
        "id": "doc-call",
        "session_id": "S-doc",
        "provider": "openai",
        "request_model": "gpt-4o-mini",
    }
    protobuf = request_bytes(spans)
    return {
        ("/v1/traces", "application/x-protobuf"): protobuf,
        ("/v1/traces", "application/json"): json.dumps({"resourceSpans": []}).encode(),
        ("/v1/events", "application/json"): json.dumps(call_record).encode(),
        ("/v1/events", "application/x-ndjson"): json.dumps({**call_record, "id": "doc-call-2"}).encode(),
    }


def _check(answer: Answer, operation: dict[str, Any], where: str) -> None:
    documented = operation["responses"]
    assert str(answer.status) in documented, f"{where}: {answer.status} is not documented"
    response = documented[str(answer.status)]
    content_type = answer.headers["content-type"]
    assert content_type in response["content"], f"{where}: answered {content_type}"
    if content_type == "application/json":
        schema = response["content"][content_type]["schema"]
        body = answer.json()
        assert isinstance(body, dict), where
        missing = set(schema.get("required", ())) - set(body)
        assert not missing, f"{where}: missing {missing}"
        for name, described in schema.get("properties", {}).items():  # the items of listed arrays
            for item in body[name] if "required" in described.get("items", {}) else ():
                missing = set(described["items"]["required"]) - set(item)
                assert not missing, f"{where}: an item of {name} misses {missing}"
        if "anyOf" in schema:  # the body has the keys of one of the documented forms at least
            forms = {f["title"]: set(f["required"]) - set(body) for f in schema["anyOf"]}
            assert any(not m for m in forms.values()), f"{where}: missing {forms}"


def test_every_documented_route_answers_as_described(tmp_path: Path) -> None:
    doc = document()
    bodies = _bodies()
    app = Collector(ServerSettings(db=tmp_path / "doc.duckdb", token=TOKEN), pricer=Pricer())

    async def scenario() -> int:
        await app.startup()
        checked = 0
        try:
            assert app.writer is not None
            assert isinstance(app.writer.store, DuckDBStore)
            create_key(app.writer.store, Attribution(team="search"), name="doc-key")  # one listed key
            for (path, media), body in bodies.items():  # data first, so the item routes find something
                operation = doc["paths"][path]["post"]
                assert media in operation["requestBody"]["content"]
                answer = await call(app, "POST", path, body, {"content-type": media, **AUTH})
                assert answer.status == 200, answer.body
                _check(answer, operation, f"POST {path} ({media})")
                checked += 1
            served = await call(app, "GET", "/openapi.json", headers=AUTH)
            assert served.json() == doc
            for path, item in doc["paths"].items():
                if "get" not in item:
                    continue
                concrete = path.replace("{id}", "doc-call" if "calls" in path else "S-doc")
                operation = item["get"]
                answer = await call(app, "GET", concrete, headers=AUTH)
                assert answer.status == 200, f"{path}: {answer.body!r}"
                _check(answer, operation, f"GET {path}")
                if operation.get("security") != []:
                    unauthorized = await call(app, "GET", concrete)
                    _check(unauthorized, operation, f"GET {path} without token")
                    assert unauthorized.status == 401
                for param in operation.get("parameters", []):
                    if param["in"] == "query":
                        kind = param["schema"]["type"]
                        value = {"integer": "5", "boolean": "true"}.get(kind, "2026-03-01")
                        value = (
                            "gpt-4o-mini" if param["name"] in ("model", "provider", "session_id") else value
                        )
                        value = str(param.get("example", value))
                        answer = await call(app, "GET", f"{concrete}?{param['name']}={value}", headers=AUTH)
                        _check(answer, operation, f"GET {path}?{param['name']}")
                        assert answer.status == 200
                checked += 1
        finally:
            await app.shutdown()
        return checked

    assert asyncio.run(scenario()) == 4 + sum("get" in item for item in doc["paths"].values())


def test_events_list_every_content_type_the_server_takes() -> None:
    body = document()["paths"]["/v1/events"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", *NDJSON_TYPES}
    assert "application/jsonl" in body


def test_the_document_is_openapi_3_1_with_every_route() -> None:
    doc = document()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {
        "/v1/traces",
        "/v1/events",
        "/api/v1/health",
        "/api/v1/report",
        "/api/v1/calls",
        "/api/v1/calls/{id}",
        "/api/v1/sessions",
        "/api/v1/sessions/{id}",
        "/api/v1/virtual_keys",
        "/api/v1/spend",
        "/openapi.json",
    }
    spend = doc["paths"]["/api/v1/spend"]["get"]
    assert [p["name"] for p in spend["parameters"]] == ["scope", "value", "since", "until", "session"]
    assert spend["parameters"][0]["schema"]["enum"] == [
        "global", "team", "user", "api_key_id", "session", "feature", "agent"
    ]  # fmt: skip
    assert set(spend["responses"]) == {"200", "400", "401", "403", "405", "500", "503"}
    sessions = doc["paths"]["/api/v1/sessions"]["get"]
    assert [p["name"] for p in sessions["parameters"]] == [
        "since", "until", "provider", "model", "limit", "offset", "view", "top", "by", "where"
    ]  # fmt: skip
    described = {p["name"]: p for p in sessions["parameters"]}
    assert (described["view"]["example"], described["top"]["schema"]) == (
        "top",
        {"type": "integer", "minimum": 1, "default": 20},
    )
    bounds = {p["name"]: p["schema"] for p in doc["paths"]["/api/v1/calls"]["get"]["parameters"]}
    assert (bounds["limit"], bounds["offset"]) == (
        {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
        {"type": "integer", "minimum": 0, "default": 0},
    )  # the bounds the server enforces (a client generated from the schema knows them)
    assert "tokenomy sessions --by" in described["by"]["description"]
    assert described["where"]["schema"] == {"type": "array", "items": {"type": "string"}}
    forms = sessions["responses"]["200"]["content"]["application/json"]["schema"]["anyOf"]
    assert [f["required"] for f in forms] == [
        ["sessions", "next_offset"],
        ["by", "sessions", "no_session_calls", "rows"],
    ]
    keys = doc["paths"]["/api/v1/virtual_keys"]["get"]
    assert keys["parameters"] == []
    assert set(keys["responses"]) == {"200", "400", "401", "403", "404", "405", "500", "503"}
    item = keys["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["keys"]["items"]
    assert item["required"] == ["key_hash", "name", "attribution", "created_at", "expires_at", "revoked_at"]
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}


def test_the_routes_that_need_a_token_answer_a_documented_403_without_one(tmp_path: Path) -> None:
    doc = document()
    app = Collector(ServerSettings(db=tmp_path / "open.duckdb"), pricer=Pricer())

    async def scenario() -> dict[str, Answer]:
        await app.startup()
        try:
            paths = ("/api/v1/virtual_keys", "/api/v1/spend", "/api/v1/spend?scope=team&scope=user")
            return {path: await call(app, "GET", path) for path in paths}
        finally:
            await app.shutdown()

    for path, answer in asyncio.run(scenario()).items():  # a repeated parameter too: 403 comes first
        route = path.partition("?")[0]
        assert answer.status == 403, answer.body
        _check(answer, doc["paths"][route]["get"], f"GET {path} on a server without a token")
        assert answer.json()["error"]["message"] == (
            f"{route} needs a server token: start the server with --token"
        )


def test_a_read_before_the_store_is_open_answers_a_documented_503(tmp_path: Path) -> None:
    doc = document()
    app = Collector(ServerSettings(db=tmp_path / "late.duckdb", token=TOKEN), pricer=Pricer())
    headers = {"authorization": f"Bearer {TOKEN}"}
    paths = ("/api/v1/report", "/api/v1/calls", "/api/v1/sessions", "/api/v1/calls/x", "/api/v1/spend")
    answers = {p: asyncio.run(call(app, "GET", p, headers=headers)) for p in paths}  # never started
    for path, answer in answers.items():
        assert answer.status == 503, answer.body
        assert answer.headers["retry-after"]
        route = "/api/v1/calls/{id}" if path == "/api/v1/calls/x" else path
        _check(answer, doc["paths"][route]["get"], f"GET {path} before the store is open")
        assert "the store is not open yet" in answer.json()["error"]["message"]
    assert "503" not in doc["paths"]["/openapi.json"]["get"]["responses"]  # it reads no store


def test_a_repeated_parameter_answers_a_documented_status_and_only_where_it_is_read(tmp_path: Path) -> None:
    """Routes that take no parameters ignore them, given twice or not (health, this document); the
    others name the repeated one in a documented 400; an unknown route stays a 404."""
    doc = document()
    app = Collector(ServerSettings(db=tmp_path / "twice.duckdb", token=TOKEN), pricer=Pricer())
    routes = {path: path.replace("{id}", "x") for path, item in doc["paths"].items() if "get" in item}

    async def scenario() -> dict[tuple[str, str], Answer]:
        await app.startup()
        try:
            return {
                (route, query): await call(app, "GET", f"{concrete}?{query}", headers=AUTH)
                for route, concrete in routes.items()
                for query in ("v=1&v=2", "limit=1&limit=2")
            } | {("nope", "a=1&a=2"): await call(app, "GET", "/api/v1/nope?a=1&a=2", headers=AUTH)}
        finally:
            await app.shutdown()

    answers = asyncio.run(scenario())
    missing = answers.pop(("nope", "a=1&a=2"))
    assert (missing.status, missing.json()["error"]["message"]) == (
        404,
        "no route /api/v1/nope; see /openapi.json for the routes",
    )
    statuses = {key: answer.status for key, answer in answers.items()}
    for (route, query), answer in answers.items():
        _check(answer, doc["paths"][route]["get"], f"GET {route}?{query}")
    for query in ("v=1&v=2", "limit=1&limit=2"):
        assert statuses[("/api/v1/health", query)] == 200
        assert answers[("/api/v1/health", query)].json()["status"] == "ok"
        assert answers[("/openapi.json", query)].json() == doc
        assert {statuses[(r, query)] for r in routes if r not in ("/api/v1/health", "/openapi.json")} == {400}
    messages = {key: a.json()["error"]["message"] for key, a in answers.items() if a.status == 400}
    assert messages[("/api/v1/calls", "limit=1&limit=2")] == (
        "query parameter limit is given more than once; give it once"
    )
    assert messages[("/api/v1/sessions/{id}", "v=1&v=2")] == (
        "query parameter v is given more than once; give it once"
    )
    assert messages[("/api/v1/report", "limit=1&limit=2")].startswith("unknown query parameter(s) limit")
