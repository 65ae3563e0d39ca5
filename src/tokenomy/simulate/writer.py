"""The fast writer: a chunk's calls and charges as native JSON lines, built column by column.

The objects are the ones :func:`tokenomy.native.call_to_native` and
:func:`tokenomy.native.charge_to_native` produce for the same records, keys in the same order
(the test suite checks this against :mod:`tokenomy.simulate.reference`); fields that are None
are left out, as the native form does. Text that is the same for every call of an agent run
(session, models, attribution, the stable prefix hashes) is rendered once per run and repeated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information
import pyarrow.compute as pc  # type: ignore[import-untyped]  # pyarrow ships no type information

from tokenomy.schema import ATTRIBUTION_FIELDS
from tokenomy.simulate import columns as col
from tokenomy.simulate import company
from tokenomy.simulate.attempts import FINISH_REASONS
from tokenomy.simulate.batch import Calls, Charges, Chunk
from tokenomy.simulate.ids import CALL_PREFIX, CHARGE_PREFIX, SESSION_PREFIX
from tokenomy.simulate.tables import Tables

Array = npt.NDArray[Any]

SOURCE: Final = "simulate"
STATUSES: Final = ("ok", "error", "timeout")
USAGE_KEYS: Final = (
    "input_uncached",
    "cache_read",
    "cache_write_5m",
    "cache_write_1h",
    "output_visible",
    "reasoning",
    "input_total",
    "output_total",
)


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """Names rendered once per run: every user id and every API key id."""

    users: Any
    user_offset: Array
    api_keys: Any

    @classmethod
    def build(cls, tables: Tables) -> Vocabulary:
        """Render the user pools of every feature and the key id of every team and environment."""
        pools = [_user_pool(f) for f in company.FEATURES]
        offsets = np.cumsum([0] + [len(p) for p in pools[:-1]])
        keys = [company.api_key_id(t, e) for t in tables.names.teams for e in company.ENVIRONMENTS]
        return cls(pa.concat_arrays(pools), offsets.astype(np.int64), pa.array(keys, pa.string()))


def _user_pool(feature: company.Feature) -> Any:
    """Every user id of a feature's pool (see :func:`tokenomy.simulate.company.user_id`)."""
    prefix, pool = feature.users
    if pool == 1:
        return pa.array([company.user_id(feature, 0)], pa.string())
    numbers = pc.utf8_lpad(col.ints(np.arange(pool)), len(str(pool - 1)), "0")
    return pc.binary_join_element_wise(pa.scalar(prefix, pa.string()), numbers, "")


def chunk_bytes(tables: Tables, vocab: Vocabulary, chunk: Chunk) -> list[memoryview]:
    """The chunk's lines as buffers ready to write: its calls, then its charges."""
    out = [col.buffer(render_calls(tables, vocab, chunk.calls))]
    if len(chunk.charges):
        out.append(col.buffer(render_charges(tables, vocab, chunk.calls, chunk.charges)))
    return out


def render_calls(tables: Tables, vocab: Vocabulary, calls: Calls) -> Any:
    """The call lines of a chunk (each ending in a newline), as an Arrow string column."""
    _, first, run_of = np.unique(calls.sess * 2 + calls.sub, return_index=True, return_inverse=True)
    fragments = _run_fragments(tables, vocab, calls, first)

    def per_call(name: str) -> Any:
        return col.take(fragments[name], run_of.ravel())

    line = col.Line()
    line.text('{"id":"' + CALL_PREFIX)
    line.column(col.hex_ids(calls.call_id))
    line.text('","started_at":"')
    line.column(*col.times(calls.start_ms))
    line.text('Z","ended_at":"')
    line.column(*col.times(calls.end_ms))
    line.text('Z","trace_id":"')
    line.column(per_call("trace"), col.hex_ids(calls.span_id))
    line.text('"')
    line.column(col.optional(calls.has_parent, ',"parent_span_id":"', col.hex_ids(calls.parent_span_id), '"'))
    line.column(per_call("models"), _error_types(tables, calls), _finish_reasons(calls))
    line.text(',"source":"' + SOURCE + '","step":')
    line.column(col.ints(calls.step), per_call("window"), col.ints(calls.max_out))
    line.text(',"n_messages":')
    line.column(col.ints(calls.msgs), per_call("prompt"), col.ints(calls.user_tokens))
    line.text(',"history_tokens":')
    line.column(col.ints(calls.hist), _http_statuses(calls))
    line.text(',"filler_tokens":')
    line.column(col.ints(calls.filler))
    line.text(',"latency_ms":')
    line.column(
        col.floats(calls.latency_ms), _ttft(calls), per_call("flags"), col.pick(STATUSES, calls.status)
    )
    line.text('","usage":{')
    _usage(line, calls)
    line.text(',"kind":"reported"}')
    line.column(per_call("prefix"), col.hex_ids(calls.prefix[:, 2]))
    line.text('","')
    line.column(col.hex_ids(calls.prefix[:, 3]))
    line.text('"]')
    line.column(_tool_uses(tables, calls), per_call("attribution"), _outcomes(tables, calls))
    line.text("}\n")
    return line.finish()


def _run_fragments(tables: Tables, vocab: Vocabulary, calls: Calls, first: Array) -> dict[str, Any]:
    """Text shared by every call of an agent run, rendered once per run (``first`` indexes a call)."""
    names = tables.names
    model = calls.model[first]
    return {
        "trace": _join(
            col.hex_ids(calls.trace_hi[first]), col.hex_ids(calls.trace_lo[first]), '","span_id":"'
        ),
        "models": _join(
            ',"session_id":"' + SESSION_PREFIX,
            col.hex_ids(calls.session_id[first]),
            '","provider":"',
            col.pick(names.model_provider, model),
            '","request_model":"',
            col.pick(names.models, model),
            '","response_model":"',
            col.pick(names.response_models, model),
            '","api":"',
            col.pick(names.model_api, model),
            '"',
        ),
        "window": _join(',"context_window":', col.ints(calls.context_window[first]), ',"max_output_tokens":'),
        "prompt": _join(
            ',"system_tokens":',
            col.ints(calls.system[first]),
            ',"tool_def_tokens":',
            col.ints(calls.tool_defs[first]),
            ',"user_tokens":',
        ),
        "flags": _join(
            ',"streamed":',
            col.bools(calls.streamed[first]),
            ',"operation":"chat","batch":',
            col.bools(calls.batch[first]),
            ',"status":"',
        ),
        "prefix": _join(
            ',"prefix_hashes":["',
            col.hex_ids(calls.prefix[first, 0]),
            '","',
            col.hex_ids(calls.prefix[first, 1]),
            '","',
        ),
        "attribution": _attribution(tables, vocab, calls, first),
    }


def _join(*parts: Any) -> Any:
    return pc.binary_join_element_wise(
        *[pa.scalar(p, pa.string()) if isinstance(p, str) else p for p in parts], ""
    )


def _error_types(tables: Tables, calls: Calls) -> Any:
    table = [f',"error_type":"{e}"' for e in tables.names.error_types] + [""]
    return col.pick(table, np.where(calls.error_type >= 0, calls.error_type, len(table) - 1))


def _finish_reasons(calls: Calls) -> Any:
    table = [f',"finish_reason":"{r}"' for r in FINISH_REASONS] + [""]
    return col.pick(table, np.where(calls.finish >= 0, calls.finish, len(table) - 1))


def _http_statuses(calls: Calls) -> Any:
    statuses, where = np.unique(calls.http_status, return_inverse=True)
    table = [f',"http_status":{s}' if s >= 0 else "" for s in statuses.tolist()]
    return col.pick(table, where.ravel())


def _ttft(calls: Calls) -> Any:
    streamed = ~np.isnan(calls.ttft_ms)
    return col.optional(streamed, ',"ttft_ms":', col.floats(np.nan_to_num(calls.ttft_ms)))


def _usage(line: col.Line, calls: Calls) -> None:
    values = (
        calls.input_uncached,
        calls.cache_read,
        calls.cache_write_5m,
        calls.cache_write_1h,
        calls.output_visible,
        calls.reasoning,
        calls.input_total,
        calls.output_visible + calls.reasoning,
    )
    for i, (key, column) in enumerate(zip(USAGE_KEYS, values, strict=True)):
        line.text(("," if i else "") + f'"{key}":')
        line.column(col.or_null(col.ints(column), calls.usage_known))


def _tool_uses(tables: Tables, calls: Calls) -> Any:
    tools = tables.names.tools
    second = col.optional(
        calls.t2 >= 0,
        ',{"name":"',
        col.pick(tools, np.maximum(calls.t2, 0)),
        '","args_hash":"',
        col.hex_ids(calls.h2),
        '"}',
    )
    return col.optional(
        calls.t1 >= 0,
        ',"tool_uses":[{"name":"',
        col.pick(tools, np.maximum(calls.t1, 0)),
        '","args_hash":"',
        col.hex_ids(calls.h1),
        '"}',
        second,
        "]",
    )


def _attribution(tables: Tables, vocab: Vocabulary, calls: Calls, index: Array) -> Any:
    """The attribution object of the calls at ``index`` (of a run's first call, or a charge's call)."""
    feature, env, user, agent = calls.feature[index], calls.env[index], calls.user[index], calls.agent[index]
    names = tables.names
    team = tables.feature_team[feature]
    values = (
        col.take(vocab.users, vocab.user_offset[feature] + user),
        col.pick(names.teams, team),
        col.pick(names.projects, team),
        col.pick(names.features, feature),
        col.pick(names.intents, tables.feature_intent[feature]),
        col.pick(names.environments, env),
        col.pick(names.agents, agent),
        col.take(vocab.api_keys, team * len(company.ENVIRONMENTS) + env),
    )
    parts: list[Any] = []
    for i, (key, column) in enumerate(zip(ATTRIBUTION_FIELDS, values, strict=True)):
        parts += [(',"attribution":{"' if i == 0 else '","') + key + '":"', column]
    return _join(*parts, '"}')


def _outcomes(tables: Tables, calls: Calls) -> Any:
    action = col.optional(calls.success, ',"action":"', col.pick(tables.names.actions, calls.feature), '"')
    return col.optional(
        calls.outcome,
        ',"outcome":{"success":',
        col.bools(calls.success),
        ',"score":',
        col.floats(calls.score),
        action,
        "}",
    )


def render_charges(tables: Tables, vocab: Vocabulary, calls: Calls, charges: Charges) -> Any:
    """The charge lines of a chunk (each ending in a newline), as an Arrow string column."""
    names = tables.names
    at = charges.call
    units = tuple(company.CHARGE_KINDS[k][0] for k in names.charge_kinds)
    line = col.Line()
    line.text('{"type":"charge","id":"' + CHARGE_PREFIX)
    line.column(col.hex_ids(charges.charge_id))
    line.text('","amount":"')
    line.column(col.ints(charges.amount_e8 // 100_000_000))
    line.text(".")
    line.column(pc.utf8_lpad(col.ints(charges.amount_e8 % 100_000_000), 8, "0"))
    line.text('","currency":"USD","kind":"')
    line.column(col.pick(names.charge_kinds, charges.kind))
    line.text('","at":"')
    line.column(*col.times(charges.at_ms))
    line.text('Z","session_id":"' + SESSION_PREFIX)
    line.column(col.hex_ids(calls.session_id[at]))
    line.text('","quantity":')
    line.column(col.floats(charges.quantity))
    line.text(',"unit":"')
    line.column(col.pick(units, charges.kind))
    line.text('","description":"')
    line.column(col.pick(names.tools, charges.tool))
    line.text('","source":"' + SOURCE + '"')
    line.column(_attribution(tables, vocab, calls, at))
    line.text("}\n")
    return line.finish()
