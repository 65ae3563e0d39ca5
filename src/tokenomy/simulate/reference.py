"""The reference path: a chunk as :class:`~tokenomy.schema.Call` and :class:`~tokenomy.schema.Charge` records.

It builds the records one by one from the chunk's columns, so it is slow (a few tens of
thousands of calls a second) but plainly correct: its output through
:func:`tokenomy.native.call_to_native` is what the fast writer must reproduce. It is also the
path for ``--content``, which attaches prompt and completion text to every call, and for
library users who want records rather than a file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final

import numpy as np

from tokenomy import native
from tokenomy.schema import Attribution, Call, Charge, Outcome, Status, ToolUse, Usage
from tokenomy.simulate import company, content
from tokenomy.simulate.attempts import FINISH_REASONS
from tokenomy.simulate.batch import Calls, Chunk
from tokenomy.simulate.ids import CALL_PREFIX, CHARGE_PREFIX, SESSION_PREFIX
from tokenomy.simulate.tables import Tables

SOURCE: Final = "simulate"
_STATUS: Final = (Status.OK, Status.ERROR, Status.TIMEOUT)


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _time(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def _hex(value: bytes) -> str:
    return value.decode("ascii")


def attribution(tables: Tables, feature: int, env: int, user: int, agent: int) -> Attribution:
    """The attribution of a call or charge of ``feature`` made by ``agent``."""
    spec = company.FEATURES[feature]
    team = tables.names.teams[int(tables.feature_team[feature])]
    environment = company.ENVIRONMENTS[env]
    return Attribution(
        user=company.user_id(spec, user),
        team=team,
        project=tables.names.projects[int(tables.feature_team[feature])],
        feature=spec.name,
        intent=spec.intent,
        environment=environment,
        agent=tables.names.agents[agent],
        api_key_id=company.api_key_id(team, environment),
    )


def calls(tables: Tables, chunk: Chunk, *, with_content: bool = False) -> Iterator[Call]:
    """The chunk's calls as records, in output order."""
    c = chunk.calls
    for i in range(len(c)):
        yield _call(tables, chunk, c, i, with_content)


def _call(tables: Tables, chunk: Chunk, c: Calls, i: int, with_content: bool) -> Call:
    m = int(c.model[i])
    parent = _hex(c.parent_span_id[i]) if c.has_parent[i] else None
    ttft = None if np.isnan(c.ttft_ms[i]) else float(c.ttft_ms[i])
    return Call(
        id=CALL_PREFIX + _hex(c.call_id[i]),
        provider=tables.names.model_provider[m],
        request_model=tables.names.models[m],
        response_model=tables.names.response_models[m],
        api=tables.names.model_api[m],
        started_at=_time(int(c.start_ms[i])),
        ended_at=_time(int(c.end_ms[i])),
        latency_ms=float(c.latency_ms[i]),
        ttft_ms=ttft,
        trace_id=_hex(c.trace_hi[i]) + _hex(c.trace_lo[i]),
        span_id=_hex(c.span_id[i]),
        parent_span_id=parent,
        session_id=SESSION_PREFIX + _hex(c.session_id[i]),
        step=int(c.step[i]),
        streamed=bool(c.streamed[i]),
        batch=bool(c.batch[i]),
        usage=_usage(c, i),
        context_window=int(c.context_window[i]),
        max_output_tokens=int(c.max_out[i]),
        n_messages=int(c.msgs[i]),
        system_tokens=int(c.system[i]),
        tool_def_tokens=int(c.tool_defs[i]),
        user_tokens=int(c.user_tokens[i]),
        history_tokens=int(c.hist[i]),
        prefix_hashes=tuple(_hex(h) for h in c.prefix[i]),
        status=_STATUS[int(c.status[i])],
        error_type=tables.names.error_types[int(c.error_type[i])] if c.error_type[i] >= 0 else None,
        http_status=int(c.http_status[i]) if c.http_status[i] >= 0 else None,
        finish_reason=FINISH_REASONS[int(c.finish[i])] if c.finish[i] >= 0 else None,
        tool_uses=_tool_uses(tables, c, i),
        filler_tokens=int(c.filler[i]),
        attribution=attribution(tables, int(c.feature[i]), int(c.env[i]), int(c.user[i]), int(c.agent[i])),
        outcome=_outcome(tables, c, i),
        content=content.for_call(tables, chunk, i) if with_content else None,
        source=SOURCE,
    )


def _usage(c: Calls, i: int) -> Usage:
    if not c.usage_known[i]:
        return Usage()
    return Usage.of(
        input_uncached=int(c.input_uncached[i]),
        cache_read=int(c.cache_read[i]),
        cache_write_5m=int(c.cache_write_5m[i]),
        cache_write_1h=int(c.cache_write_1h[i]),
        output_visible=int(c.output_visible[i]),
        reasoning=int(c.reasoning[i]),
    )


def _tool_uses(tables: Tables, c: Calls, i: int) -> tuple[ToolUse, ...]:
    uses = []
    for tool, digest in ((c.t1[i], c.h1[i]), (c.t2[i], c.h2[i])):
        if tool >= 0:
            uses.append(ToolUse(name=tables.names.tools[int(tool)], args_hash=_hex(digest)))
    return tuple(uses)


def _outcome(tables: Tables, c: Calls, i: int) -> Outcome | None:
    if not c.outcome[i]:
        return None
    success = bool(c.success[i])
    action = company.FEATURES[int(c.feature[i])].action if success else None
    return Outcome(success=success, score=float(c.score[i]), action=action)


def charges(tables: Tables, chunk: Chunk) -> Iterator[Charge]:
    """The chunk's charges as records, in output order."""
    c, g = chunk.calls, chunk.charges
    for j in range(len(g)):
        i = int(g.call[j])
        kind = tables.names.charge_kinds[int(g.kind[j])]
        yield Charge(
            id=CHARGE_PREFIX + _hex(g.charge_id[j]),
            amount=Decimal(int(g.amount_e8[j])).scaleb(-8),
            kind=kind,
            at=_time(int(g.at_ms[j])),
            session_id=SESSION_PREFIX + _hex(c.session_id[i]),
            quantity=float(g.quantity[j]),
            unit=company.CHARGE_KINDS[kind][0],
            description=tables.names.tools[int(g.tool[j])],
            attribution=attribution(
                tables, int(c.feature[i]), int(c.env[i]), int(c.user[i]), int(c.agent[i])
            ),
            source=SOURCE,
        )


def lines(tables: Tables, chunk: Chunk, *, with_content: bool = False) -> Iterator[str]:
    """The chunk's native JSON lines (calls, then charges), rendered through :mod:`tokenomy.native`."""
    for call in calls(tables, chunk, with_content=with_content):
        yield json.dumps(native.call_to_native(call), separators=(",", ":")) + "\n"
    for charge in charges(tables, chunk):
        yield json.dumps(native.charge_to_native(charge), separators=(",", ":")) + "\n"
