"""Attribution headers and virtual keys, through the ASGI app with an injected upstream (no network)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta

from tests.gateway.support import ListTarget, asgi_call, calls_of, chat_completion, memory_sink
from tokenomy.gateway import (
    Gateway,
    GatewaySettings,
    HandlerTransport,
    KeyBook,
    Route,
    UpstreamRequest,
    UpstreamResponse,
)
from tokenomy.gateway.attribution import from_headers, parse_tags
from tokenomy.gateway.keys import VirtualKey, hash_key
from tokenomy.schema import Attribution

CHAT = chat_completion("chatcmpl-1", "gpt-4o")
BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


async def _ok(request: UpstreamRequest) -> UpstreamResponse:
    return UpstreamResponse.of(200, json.dumps(CHAT).encode(), [(b"content-type", b"application/json")])


def _gateway(
    keys: KeyBook | None = None, *, require: bool = False
) -> tuple[Gateway, HandlerTransport, ListTarget]:
    transport = HandlerTransport(_ok)
    sink, target = memory_sink()
    settings = GatewaySettings(
        routes=(Route(("*",), "openai", "http://upstream.test/v1", api_key="sk-route"),), require_keys=require
    )
    app = Gateway(settings, transport=transport, sink=sink, keys=keys)
    return app, transport, target


def test_tags_parse_and_skip_junk() -> None:
    assert parse_tags("tier=gold, region = eu ,junk,=x,") == {"tier": "gold", "region": "eu"}


def test_headers_attribute_the_call_and_never_go_upstream() -> None:
    app, transport, target = _gateway()
    headers = {
        "Authorization": "Bearer sk-client-own",
        "X-Tokenomy-User": "ana",
        "X-Tokenomy-Team": "search",
        "X-Tokenomy-Session": "s-42",
        "X-Tokenomy-Feature": "triage",
        "X-Tokenomy-Intent": "classify",
        "X-Tokenomy-Agent": "router",
        "X-Tokenomy-Tags": "tier=gold,region=eu",
        "X-Other": "kept",
    }
    answer = asyncio.run(asgi_call(app, "/v1/chat/completions", BODY, headers))
    assert answer.status == 200
    assert answer.json() == CHAT
    [sent] = transport.requests
    names = {k for k, _ in sent.headers}
    assert not any(n.startswith(b"x-tokenomy-") for n in names)
    assert (b"authorization", b"Bearer sk-route") in sent.headers  # the route's key, not the client's
    assert (b"x-other", b"kept") in sent.headers
    assert sent.url == "http://upstream.test/v1/chat/completions"
    assert app.sink is not None
    [call] = calls_of(app.sink, target)
    a = call.attribution
    assert (a.user, a.team, a.feature, a.intent, a.agent) == ("ana", "search", "triage", "classify", "router")
    assert dict(a.tags) == {"tier": "gold", "region": "eu"}
    assert call.session_id == "s-42"
    assert a.api_key_id is not None
    assert len(a.api_key_id) == 16
    assert "sk-client" not in repr(call)


def test_a_key_fixes_its_attribution_and_headers_only_fill_gaps() -> None:
    base = Attribution(team="search", tags={"tier": "gold"})
    got = from_headers(
        [(b"x-tokenomy-team", b"ads"), (b"x-tokenomy-user", b"bo"), (b"x-tokenomy-tags", b"tier=x,k=v")], base
    )
    assert (got.attribution.team, got.attribution.user) == ("search", "bo")
    assert dict(got.attribution.tags) == {"tier": "gold", "k": "v"}


def test_virtual_keys_attribute_and_unknown_ones_are_refused() -> None:
    record = VirtualKey(hash_key("tk-good"), Attribution(team="search", user="alice"))
    expired = VirtualKey(hash_key("tk-old"), Attribution(team="x"), expires_at=datetime(2020, 1, 1))
    app, transport, target = _gateway(KeyBook(keys=[record, expired]), require=True)
    ok = asyncio.run(asgi_call(app, "/v1/chat/completions", BODY, {"Authorization": "Bearer tk-good"}))
    bad = asyncio.run(asgi_call(app, "/v1/chat/completions", BODY, {"Authorization": "Bearer tk-nope"}))
    old = asyncio.run(asgi_call(app, "/v1/chat/completions", BODY, {"Authorization": "Bearer tk-old"}))
    none = asyncio.run(asgi_call(app, "/v1/messages", {**BODY, "max_tokens": 5}, {"x-api-key": "sk-raw"}))
    assert ok.status == 200
    assert (bad.status, old.status, none.status) == (401, 401, 401)
    assert (bad.json()["error"]["type"], bad.json()["error"]["code"]) == (
        "invalid_request_error",
        "invalid_api_key",
    )
    assert none.json()["type"] == "error"
    assert none.json()["error"]["type"] == "authentication_error"
    assert len(transport.requests) == 1
    assert app.sink is not None
    [call] = calls_of(app.sink, target)
    assert (call.attribution.team, call.attribution.user) == ("search", "alice")
    assert call.attribution.api_key_id == record.key_id


def test_the_key_book_reloads_and_sees_revocations() -> None:
    now = [0.0]
    rows = [VirtualKey(hash_key("tk-a"), Attribution(team="t"))]
    book = KeyBook(lambda: list(rows), refresh=10.0, clock=lambda: now[0])
    assert book.lookup("tk-a") is not None
    rows[0] = VirtualKey(
        hash_key("tk-a"), Attribution(team="t"), revoked_at=datetime.now() - timedelta(seconds=1)
    )
    assert book.lookup("tk-a") is not None  # cached until the refresh interval
    now[0] = 11.0
    assert book.lookup("tk-a") is None


def test_a_client_key_route_never_forwards_the_gateways_own_secrets() -> None:
    """``pass_client_key`` forwards the client's provider key, never the gateway's token or a virtual
    key (they are the gateway's secrets, not the provider's), on metered and other paths alike."""
    token = "gw-token-0123456789abcdef"
    record = VirtualKey(hash_key("tk-good"), Attribution(team="search"))
    transport = HandlerTransport(_ok)
    route = Route(("*",), "openai", "http://upstream.test/v1", pass_client_key=True)
    app = Gateway(
        GatewaySettings(routes=(route,), token=token),
        transport=transport,
        sink=memory_sink()[0],
        keys=KeyBook(keys=[record]),
    )
    cases = [
        {"Authorization": f"Bearer {token}"},  # the token as the API key
        {"Authorization": "Bearer tk-good"},  # a virtual key
        {"x-api-key": token},
        {"Authorization": "Bearer sk-own-provider-key", "X-Tokenomy-Token": token},  # as documented
    ]
    for headers in cases:
        answer = asyncio.run(asgi_call(app, "/v1/chat/completions", BODY, headers))
        assert answer.status == 200
    other = asyncio.run(asgi_call(app, "/v1/models", None, {"Authorization": f"Bearer {token}"}, "GET"))
    assert other.status == 200
    sent = [
        [(k, v) for k, v in r.headers if k in (b"authorization", b"x-api-key")] for r in transport.requests
    ]
    assert sent == [[], [], [], [(b"authorization", b"Bearer sk-own-provider-key")], []]
    assert not any(token.encode() in v or b"tk-good" in v for r in transport.requests for _, v in r.headers)


def test_a_long_tags_header_keeps_every_tag_whole() -> None:
    """The 256-character cut applies to each tag's key and value, not to the header as a whole."""
    header = ",".join(f"tag{n:02d}=value-{n:02d}" for n in range(30))  # 30 tags, 479 characters
    got = from_headers([(b"x-tokenomy-tags", header.encode())]).attribution.tags
    assert dict(got) == {f"tag{n:02d}": f"value-{n:02d}" for n in range(30)}
    long_value = from_headers([(b"x-tokenomy-tags", b"k=" + b"v" * 300)]).attribution.tags
    assert dict(long_value) == {"k": "v" * 256}
    many = ",".join(f"t{n}=x" for n in range(100))
    assert len(from_headers([(b"x-tokenomy-tags", many.encode())]).attribution.tags) == 64
    headers = [(b"x-tokenomy-tags", ",".join(f"h{h}t{n}=x" for n in range(40)).encode()) for h in range(3)]
    assert len(from_headers(headers).attribution.tags) == 64  # a request's, over several headers
