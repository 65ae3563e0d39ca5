"""The OpenAPI 3.1 document of the collector, served at ``/openapi.json``.

It describes every route the server answers (a test walks it and calls each route), the
query parameters of the read API, the bodies each ingest route accepts, and the shape of the
answers: for every JSON response, ``required`` lists the keys the answer always has.
"""

from __future__ import annotations

from typing import Any, Final

from tokenomy import __version__
from tokenomy.budgets.policy import Scope as BudgetScope
from tokenomy.server.api import REPORT_PARAMS, SESSIONS_PARAMS
from tokenomy.server.events_ingest import NDJSON_TYPES

_ERROR: Final = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "message"],
            "properties": {"status": {"type": "integer"}, "message": {"type": "string"}},
        }
    },
}
_RPC_STATUS: Final = {
    "type": "object",
    "description": "google.rpc.Status, as OTLP/HTTP answers errors (protobuf for protobuf requests)",
    "required": ["code", "message"],
    "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
}
_OBJECT: Final = {"type": "object", "additionalProperties": True}
_PAGE: Final = {"next_offset": {"type": ["integer", "null"]}}
_TOTALS: Final = ("since", "until", "rows", "total")
_SPLIT: Final = {
    "type": ["object", "null"],
    "description": "Where the LLM cost goes: the priced calls' cost by part (usage bucket, server tools, "
    "request fees, overhead), the parts adding up to total.",
    "required": ["total", "parts"],
    "properties": {
        "total": {"type": ["string", "null"], "description": "Decimal string."},
        "parts": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["part", "cost", "tokens", "share"],
                "properties": {
                    "part": {"type": "string"},
                    "cost": {"type": "string", "description": "Decimal string."},
                    "tokens": {
                        "type": ["integer", "null"],
                        "description": "Null for a part that is not a bucket.",
                    },
                    "share": {"type": ["number", "null"]},
                },
            },
        },
    },
}
_TIME_OR_NULL: Final = {"type": ["string", "null"], "format": "date-time"}
_VIRTUAL_KEY: Final = {
    "type": "object",
    "required": ["key_hash", "name", "attribution", "created_at", "expires_at", "revoked_at"],
    "properties": {
        "key_hash": {"type": "string"},
        "name": {"type": ["string", "null"]},
        "attribution": _OBJECT,
        "created_at": {"type": "string", "format": "date-time"},
        "expires_at": _TIME_OR_NULL,
        "revoked_at": _TIME_OR_NULL,
    },
}


_EXAMPLES: Final = {
    "by": "team,model",
    "bucket": "day",
    "where": "team=search",
    "view": "summary",
    "compare": "previous",
    "threshold": 0.25,
    "parity": "gpt-4o,gpt-4o-mini",
    "scope": "team",
    "value": "search",
    "session": "s-42",
}
"""Values that a test of every parameter can send (the others take a day, a number or a name)."""


_SESSIONS: Final = {
    "view": (
        "list (the default: most recently active first, a page at a time) or top (the most expensive "
        "sessions, as `tokenomy sessions`: since, until, by, where and top; top, by or where alone "
        "select it too).",
        "string",
        "top",
    ),
    "top": (
        "Sessions ranked (per group), 1 or more (default 20), as `tokenomy sessions --top`.",
        "integer",
        5,
    ),
    "by": (
        "Rank within each group of these dimensions, comma separated, as `tokenomy sessions --by`; a "
        "session belongs to the smallest value among its calls (its charges' when it has no call).",
        "string",
        "team,model",
    ),
    "where": (
        "Rank only the calls and charges with dim=value (repeatable; the same dimension twice keeps "
        "either value), as `tokenomy sessions --where`.",
        "string",
        "team=search",
    ),
}
"""The sessions route's own words (and examples) for the parameters it shares with the report."""


def _sessions_params() -> list[dict[str, Any]]:
    params = _params(*SESSIONS_PARAMS)
    for param in params:
        if param["name"] in _SESSIONS:
            text, kind, example = _SESSIONS[param["name"]]
            param.update(description=text, example=example)
            if param["name"] != "where":
                param["schema"] = {"type": kind, **_SESSIONS_BOUNDS.get(param["name"], {})}
    return params


_BOUNDS: Final[dict[str, dict[str, int]]] = {
    "limit": {"minimum": 1, "maximum": 1000, "default": 100},
    "offset": {"minimum": 0, "default": 0},
    "budget_tokens": {"minimum": 1},
    "top": {"minimum": 1, "default": 10},
}
"""The bounds the server enforces on whole-number parameters, stated in their schemas."""
_SESSIONS_BOUNDS: Final[dict[str, dict[str, int]]] = {"top": {"minimum": 1, "default": 20}}
"""The sessions ranking's own (its ``top`` lists 20 by default, the overview's 10)."""


def _params(*names: str) -> list[dict[str, Any]]:
    described = {
        "since": ("First UTC day (2026-03-01) or time (2026-03-01T09:30:00Z) to include.", "string"),
        "until": ("UTC day or time to stop before (exclusive).", "string"),
        "provider": ("Only calls of this provider (canonical id: openai, anthropic...).", "string"),
        "model": ("Only calls of this model (the one that served, else the one requested).", "string"),
        "session_id": (
            "Only the calls of this session, as /api/v1/sessions/{id} lists them: those that name it, "
            "and those that take it from their trace.",
            "string",
        ),
        "limit": ("Page size, 1 to 1000 (default 100).", "integer"),
        "offset": ("Rows to skip (default 0); use next_offset from the previous page.", "integer"),
        "by": (
            "Group by these dimensions, comma separated (team, feature, model, provider, session, "
            "tag:KEY...), as `tokenomy report --by`: the answer is the attribution table and its KPIs.",
            "string",
        ),
        "bucket": (
            "Group by this time bucket (hour, day, week, month), as `tokenomy report --bucket`.",
            "string",
        ),
        "where": (
            "Keep only dim=value (repeatable; the same dimension twice keeps either value; "
            "'(unattributed)' matches a missing value), as `tokenomy report --where`.",
            "string",
        ),
        "view": (
            "totals (default: by UTC day, provider and model), summary (the default report of "
            "`tokenomy report`: KPIs with their trend, spend over time, the costliest models) or overview "
            "(the data of `tokenomy report --format html`: since, until, where, by, compare and top).",
            "string",
        ),
        "compare": (
            "The baseline period, as `tokenomy report --compare`: previous, last-week or "
            "YYYY-MM-DD..YYYY-MM-DD. The table and KPIs then cover the current period (since/until, a "
            "missing bound taken from the data) and the answer adds drivers and baselines; with "
            "view=overview, the previous period of the trends and the waterfall.",
            "string",
        ),
        "threshold": (
            "The rise in tokens per call that flags an intent as a regression (default 0.25: +25%), "
            "as `--threshold`; read with compare only (accepted and checked with any form).",
            "number",
        ),
        "metrics": (
            "true: the answer adds metrics, every efficiency metric for the grouping, as "
            "`tokenomy report --metrics`.",
            "boolean",
        ),
        "parts": (
            "true: the answer (grouped, or view=summary) adds split, where the LLM cost goes by part "
            "over the selection, as `tokenomy report --parts`.",
            "boolean",
        ),
        "budget_tokens": (
            "A token budget per group and bucket (1 or more): the answer's metrics add token "
            "utilization, as `--budget-tokens`.",
            "integer",
        ),
        "parity": (
            "Two models, MODEL_A,MODEL_B: the answer's metrics add their latency-cost parity per intent, "
            "as `--parity`.",
            "string",
        ),
        "top": (
            "Sessions listed by view=overview (1 or more, default 10), as `--top`; accepted and checked "
            "with any form, read by the overview only.",
            "integer",
        ),
        "charges": (
            "true: the totals also carry each day's charges (a row with no provider and no model) "
            "and every row's charges, charge_cost and spend.",
            "boolean",
        ),
        "scope": (
            "The budget scope whose spend is summed (default global).",
            "string",
        ),
        "value": ("The scope's value (the team, user, key id...); none for the global scope.", "string"),
        "session": (
            "Only this session's spend (since and until are then not used), as a session budget counts it.",
            "string",
        ),
    }
    out: list[dict[str, Any]] = []
    for n in names:
        param: dict[str, Any] = {
            "name": n,
            "in": "query",
            "required": False,
            "description": described[n][0],
            "schema": {"type": described[n][1], **_BOUNDS.get(n, {})},
        }
        if n == "where":
            param.update(explode=True, schema={"type": "array", "items": {"type": "string"}})
        if n == "scope":
            param["schema"] = {"type": "string", "enum": [s.value for s in BudgetScope], "default": "global"}
        if n in _EXAMPLES:
            param["example"] = _EXAMPLES[n]
        out.append(param)
    return out


def _path_id(what: str) -> dict[str, Any]:
    return {
        "name": "id",
        "in": "path",
        "required": True,
        "description": f"The {what} id, percent-encoded (a '/' in it as %2F).",
        "schema": {"type": "string"},
    }


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Bad request: the message names the parameter, or the record and field.",
        401: "Missing or wrong bearer token.",
        403: "This route needs a server token: the server runs without one.",
        404: "Not found.",
        413: "Body over the server's limit (checked while reading, and after gzip).",
        405: "Wrong method: the message names the one the route takes.",
        415: "Unsupported Content-Type or Content-Encoding.",
        500: "A defect in the collector: the message names the exception, the collector's log has the rest.",
        503: "The store and the spool cannot take events now, or the writer queue is full: retry later.",
    }
    return {str(c): _json(text[c], _ERROR) for c in codes}


def _ingest(
    summary: str, media: dict[str, Any], ok: dict[str, Any], error_schema: dict[str, Any]
) -> dict[str, Any]:
    errors = {
        str(c): {**v, "content": {"application/json": {"schema": error_schema}}}
        for c, v in _errors(400, 413, 415, 503).items()
    }
    return {
        "post": {
            "summary": summary,
            "requestBody": {"required": True, "content": media},
            "responses": {"200": ok, **errors, **_errors(401, 405, 500)},
        }
    }


def _get(
    summary: str, params: list[dict[str, Any]], ok: dict[str, Any], *codes: int, reads: bool = True
) -> dict[str, Any]:
    """A read route; with ``reads`` (it reads the store) it may also answer 503."""
    responses = {"200": ok, **_errors(401, *codes, 405, 500)}
    if reads:
        responses["503"] = _json(
            "The store is not open yet (another process may hold it) or could not be read: retry later "
            "(Retry-After).",
            _ERROR,
        )
    return {"get": {"summary": summary, "parameters": params, "responses": responses}}


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (a new dict each time)."""
    paths: dict[str, Any] = {
        "/v1/traces": _ingest(
            "OTLP/HTTP traces (ExportTraceServiceRequest); gzip accepted. GenAI spans become priced calls.",
            {
                "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
                "application/json": {"schema": _OBJECT},
            },
            {
                "description": "Durable (stored, or spooled to be stored): ExportTraceServiceResponse, "
                "with partialSuccess when spans were rejected or an entry holding spans could not be read; "
                "protobuf for protobuf requests.",
                "content": {
                    "application/json": {
                        "schema": {"type": "object", "properties": {"partialSuccess": _OBJECT}}
                    },
                    "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
                },
            },
            _RPC_STATUS,
        ),
        "/v1/events": _ingest(
            "Native records (calls, charges, outcomes): one JSON object, an array, or NDJSON; gzip accepted.",
            {
                "application/json": {"schema": _OBJECT},
                **{kind: {"schema": {"type": "string"}} for kind in sorted(NDJSON_TYPES)},
            },
            _json(
                "Durable (stored, or spooled to be stored): how many records of each kind were accepted.",
                {
                    "type": "object",
                    "required": ["accepted", "durable"],
                    "properties": {
                        "accepted": _OBJECT,
                        "durable": {"type": "string", "enum": ["store", "spool"]},
                    },
                },
            ),
            _ERROR,
        ),
        "/api/v1/health": {
            "get": {
                "summary": "Liveness and the writer's state (no token needed).",
                "security": [],
                "responses": {
                    "200": _json(
                        "The server answers.",
                        {
                            "type": "object",
                            "required": ["status", "store", "spool", "queue"],
                            "properties": {},
                        },
                    )
                },
            }
        },
        "/api/v1/report": _get(
            "The report of `tokenomy report`. By default totals by UTC day, provider and model: calls, "
            "tokens per bucket (null when none of a row's calls reported it), cost, unpriced calls, "
            "usage_unknown (calls that left a bucket or a total unreported; with charges=true also "
            "charges and spend). With by, "
            "bucket, where, compare, metrics, budget_tokens or parity: the attribution table (rows, total, "
            "notes, by, bucket, where) and its kpis, with drivers and baselines (compare) and metrics "
            "(metrics, budget_tokens, parity). With view=summary: period, previous, kpis, over_time, "
            "models, folded. With view=overview: the HTML report's data. The overview, and the summary "
            "and grouped forms with parts=true, also carry split: where the LLM cost goes "
            "(total, and per part its cost, tokens and share; a total of null and no parts when no "
            "call was priced).",
            _params(*REPORT_PARAMS),
            _json(
                "The report.",
                {
                    "type": "object",
                    "anyOf": [
                        {"title": "totals", "required": list(_TOTALS)},
                        {
                            "title": "grouped (by, bucket, where, compare, metrics, budget_tokens, parity, "
                            "parts)",
                            "required": [*_TOTALS, "where", "by", "bucket", "notes", "kpis"],
                            "properties": {
                                "drivers": {"type": "object", "description": "With compare."},
                                "baselines": {"type": "array", "description": "With compare."},
                                "metrics": {
                                    "type": "array",
                                    "description": "With metrics, budget_tokens or parity.",
                                },
                                "split": {**_SPLIT, "description": "With parts."},
                            },
                        },
                        {
                            "title": "summary (view=summary)",
                            "required": ["period", "previous", "kpis", "over_time", "models", "folded"],
                            "properties": {"split": {**_SPLIT, "description": "With parts."}},
                        },
                        {
                            "title": "overview (view=overview)",
                            "required": [
                                "period",
                                "previous",
                                "scope",
                                "table",
                                "kpis",
                                "over_time",
                                "drivers",
                                "sessions",
                                "notes",
                            ],
                            "properties": {"split": _SPLIT},
                        },
                    ],
                    "properties": {},
                },
            ),
            400,
        ),
        "/api/v1/calls": _get(
            "Calls, newest first, in the native JSON form.",
            _params("since", "until", "session_id", "provider", "model", "limit", "offset"),
            _json(
                "A page of calls.",
                {"type": "object", "required": ["calls", "next_offset"], "properties": _PAGE},
            ),
            400,
        ),
        "/api/v1/calls/{id}": _get(
            "One call, with the outcomes recorded for it. Takes no query parameter.",
            [_path_id("call")],
            _json("The call.", {"type": "object", "required": ["id", "usage", "outcomes"]}),
            400,
            404,
        ),
        "/api/v1/sessions": _get(
            "Sessions with their totals. By default the list, most recently active first, a page at a "
            "time (each session's calls, first_at, last_at, tokens, cost of its priced calls, unpriced, "
            "charges: the amount its charges add, and outcome). "
            "With view=top (or top, by, where): the most expensive sessions of `tokenomy sessions`, "
            "ranked over one snapshot, as `tokenomy sessions --format json` prints them (by, sessions: "
            "how many in the scope, no_session_calls, rows).",
            _sessions_params(),
            _json(
                "A page of sessions, or the ranking.",
                {
                    "type": "object",
                    "anyOf": [
                        {"title": "list", "required": ["sessions", "next_offset"], "properties": _PAGE},
                        {
                            "title": "ranking (view=top, top, by, where)",
                            "required": ["by", "sessions", "no_session_calls", "rows"],
                        },
                    ],
                    "properties": {},
                },
            ),
            400,
        ),
        "/api/v1/sessions/{id}": _get(
            "A session: its calls, charges, outcomes and the other spans of its traces. Takes no query "
            "parameter.",
            [_path_id("session")],
            _json(
                "The session.",
                {
                    "type": "object",
                    "required": ["session_id", "totals", "calls", "charges", "outcomes", "spans"],
                    "properties": {
                        "totals": {
                            "type": "object",
                            "description": "calls, unpriced, cost (the priced calls'), charges (the "
                            "charges' amount) and spend (both: the cost `tokenomy session ID` shows); "
                            "amounts are decimal strings, null when nothing makes them.",
                            "required": ["calls", "unpriced", "cost", "charges", "spend"],
                        }
                    },
                },
            ),
            400,
            404,
        ),
        "/api/v1/virtual_keys": _get(
            "The gateway's virtual keys, as hashes (never a key), for gateways whose calls come here. "
            "Takes no query parameter; only on a server with a token.",
            [],
            _json(
                "The keys, revoked and expired ones included.",
                {
                    "type": "object",
                    "required": ["keys"],
                    "properties": {"keys": {"type": "array", "items": _VIRTUAL_KEY}},
                },
            ),
            400,
            403,
            404,
        ),
        "/api/v1/spend": _get(
            "Recorded spend (USD and tokens) of one budget scope value in a window, what a gateway "
            "rebuilds a missing budget account from. Only on a server with a token.",
            _params("scope", "value", "since", "until", "session"),
            _json(
                "The spend, as decimal strings.",
                {
                    "type": "object",
                    "required": ["scope", "value", "usd", "tokens"],
                    "properties": {
                        "scope": {"type": "string"},
                        "value": {"type": ["string", "null"]},
                        "usd": {"type": "string"},
                        "tokens": {"type": "string"},
                    },
                },
            ),
            400,
            403,
        ),
        "/openapi.json": _get(
            "This document.",
            [],
            _json("OpenAPI 3.1.", {"type": "object", "required": ["openapi", "paths"]}),
            reads=False,
        ),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tokenomy collector",
            "version": __version__,
            "description": "OTLP/HTTP and native events in, durable in the store; a read-only API out "
            "(docs/server.md). With a server token, every route but /api/v1/health needs it.",
        },
        "paths": paths,
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
    }
