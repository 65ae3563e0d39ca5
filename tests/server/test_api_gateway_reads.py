"""What gateways read from a collector: ``GET /api/v1/virtual_keys`` and ``GET /api/v1/spend``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.server.support import call
from tokenomy.gateway.key_store import create_key, revoke_key
from tokenomy.pricing import Pricer
from tokenomy.schema import Attribution
from tokenomy.server.app import Collector
from tokenomy.server.settings import ServerSettings
from tokenomy.store import DuckDBStore

TOKEN = "t" * 24


def _scenario(tmp_path: Path, token: str | None) -> dict[str, Any]:
    app = Collector(ServerSettings(db=tmp_path / "c.duckdb", token=token), pricer=Pricer())

    async def main() -> dict[str, Any]:
        await app.startup()
        try:
            assert app.writer is not None
            store = app.writer.store
            assert isinstance(store, DuckDBStore)
            kept = create_key(store, Attribution(team="search", user="alice"), name="kept")
            gone = create_key(store, Attribution(team="ads"), name="gone")
            revoke_key(store, "gone")
            auth = {"authorization": f"Bearer {TOKEN}"}
            found = await call(app, "GET", "/api/v1/virtual_keys", headers=auth)
            bare = await call(app, "GET", "/api/v1/virtual_keys")
            return {
                "status": found.status,
                "bare": bare.status,
                "body": found.json() if found.status == 200 else None,
                "keys": (kept, gone),
            }
        finally:
            await app.shutdown()

    return asyncio.run(main())


def test_keys_are_listed_as_hashes_with_attribution_and_validity(tmp_path: Path) -> None:
    answer = _scenario(tmp_path, TOKEN)
    kept, gone = answer["keys"]
    assert answer["status"] == 200
    assert answer["bare"] == 401
    rows = {row["name"]: row for row in answer["body"]["keys"]}
    assert rows["kept"]["key_hash"] == kept.record.key_hash
    assert rows["kept"]["attribution"] == {"team": "search", "user": "alice"}
    assert rows["kept"]["revoked_at"] is None
    assert rows["gone"]["key_hash"] == gone.record.key_hash
    assert rows["gone"]["revoked_at"].endswith("Z")
    assert kept.key not in str(answer["body"])  # the key itself is never stored, so never shown


def test_a_server_without_a_token_does_not_list_keys(tmp_path: Path) -> None:
    answer = _scenario(tmp_path, None)
    assert answer["status"] == 403


def test_spend_is_summed_by_scope_value_and_window(tmp_path: Path) -> None:
    app = Collector(ServerSettings(db=tmp_path / "c.duckdb", token=TOKEN), pricer=Pricer())
    auth = {"authorization": f"Bearer {TOKEN}"}
    usage = {"input_uncached": 10, "output_visible": 5, "input_total": 10, "output_total": 5}
    rows = [
        {
            "type": "call",
            "id": f"c{n}",
            "provider": "openai",
            "model": "gpt-4o",
            "started_at": "2026-11-20T10:00:00Z",
            "usage": usage,
            "attribution": {"team": team},
        }
        for n, team in enumerate(("search", "search", "ads"))
    ]
    body = "\n".join(json.dumps(r) for r in rows).encode()

    async def main() -> list[Any]:
        await app.startup()
        try:
            stored = await call(
                app, "POST", "/v1/events", body, {**auth, "content-type": "application/x-ndjson"}
            )
            assert stored.status == 200, stored.body
            out = []
            for query in (
                "scope=team&value=search&since=2026-11-20&until=2026-11-21",
                "scope=team&value=search&since=2026-11-21",
                "scope=global",
            ):
                out.append((await call(app, "GET", f"/api/v1/spend?{query}", headers=auth)).json())
            out.append((await call(app, "GET", "/api/v1/spend?scope=planet", headers=auth)).status)
            return out
        finally:
            await app.shutdown()

    search, later, everyone, bad = asyncio.run(main())
    assert search["tokens"] == "30"
    assert later["tokens"] == "0"
    assert everyone["tokens"] == "45"
    assert bad == 400
