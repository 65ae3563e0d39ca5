"""The audited calls as one SQL view, and the SQL pieces detectors share.

``audited`` is the ``calls`` table of one scope with a few derived columns: ``session`` (the
session id, else the trace id, else the call's own id: a call never goes unaudited for lack of a
session), ``run`` (one agent's calls within a session: a sub-agent's steps are compared with each
other, not with its parent's), ``model`` (served, else requested), ``finish_reason`` in lower case,
the call's input-side and output-side cost (NULL when the call is unpriced), and the prefix hashes
as scalars: the first (``ph_first``), the one before the newest turn (``ph_before``), the last
(``ph_last``) and their number (``ph_n``). Two prompts whose last cut hashes agree share every
shorter cut too, so comparing ``ph_last`` and ``ph_n`` compares the whole list, and window
functions never carry lists. Detectors order a run by start time, then step, then id
(:data:`RUN_ORDER`) and partition it by ``session, agent`` (:data:`RUN_WINDOW`).
"""

from __future__ import annotations

from typing import Final

from tokenomy.analysis.dimensions import MODEL_SQL
from tokenomy.schema import INPUT_BUCKETS, OUTPUT_BUCKETS
from tokenomy.store.base import Dialect

TRUNCATED: Final = ("length", "max_tokens", "max_output_tokens")
"""Finish reasons (lower-cased) that mean the output hit its limit: OpenAI chat ``length``,
Anthropic and Bedrock ``max_tokens``, Gemini ``MAX_TOKENS``, the Responses API's incomplete
reason ``max_output_tokens``."""

RUN_ORDER: Final = "started_at NULLS FIRST, step NULLS FIRST, id"
RUN_WINDOW: Final = f"PARTITION BY session, agent ORDER BY {RUN_ORDER}"
ROUTE_COLUMNS: Final = "team, feature, agent, intent, provider, model"


def cost_sum(buckets: tuple[str, ...]) -> str:
    """The cost of ``buckets`` of a call (alias ``c``); NULL when the call is unpriced."""
    parts = " + ".join(f"coalesce(c.cost_{b}, 0)" for b in buckets)
    return f"CASE WHEN c.cost_total IS NULL THEN NULL ELSE {parts} END"


def audited_sql(condition: str, dialect: Dialect, *, trace_sessions: str | None = None) -> str:
    """The audited calls: the ``calls`` rows matching ``condition`` (alias ``c``), with derived columns.

    ``trace_sessions`` (:meth:`tokenomy.analysis.sources.Sources.trace_sessions_sql`) gives each trace
    its session, for a ``session`` filter: the calls then carry the session the reports give them
    (``_session``: their own, else their trace's), and so does the audit's ``session``."""
    del dialect  # the view is portable SQL; detectors ask the dialect for what is not
    source, own = "calls", "c.session_id"
    if trace_sessions is not None and "c._session" in condition:
        source, own = _with_session(trace_sessions), "c._session"
    session = f"coalesce({own}, c.trace_id, c.id)"
    return f"""
        SELECT c.id, {session} AS session, {session} || '/' || coalesce(c.agent, '') AS run,
               c.step, c.started_at, c.ended_at, c.provider, {MODEL_SQL.format(t="c")} AS model,
               c.request_model, c.response_model, c.team, c.feature, c.agent, c.intent, c.tags,
               c.status, c.http_status, lower(c.finish_reason) AS finish_reason, c.max_output_tokens,
               coalesce(c.batch, FALSE) AS batch, c.streamed, c.service_tier,
               {", ".join(f"c.{b}" for b in (*INPUT_BUCKETS, *OUTPUT_BUCKETS))},
               c.input_total, c.output_total, c.modalities, c.n_messages, c.system_tokens, c.tool_def_tokens,
               c.user_tokens, c.history_tokens, c.context_window, c.prefix_hashes, c.tool_uses,
               c.prefix_hashes[1] AS ph_first, c.prefix_hashes[-2] AS ph_before,
               c.prefix_hashes[-1] AS ph_last, len(c.prefix_hashes) AS ph_n,
               coalesce(len(c.tool_uses), 0) AS n_tools, c.filler_tokens, c.success, c.cost_total,
               {cost_sum(INPUT_BUCKETS)} AS cost_in, {cost_sum(OUTPUT_BUCKETS)} AS cost_out,
               c.cost_output_visible, c.cost_reasoning, {", ".join(f"c.cost_{b}" for b in INPUT_BUCKETS)}
        FROM {source} c WHERE {condition}
    """


def _with_session(trace_sessions: str) -> str:
    """The calls with ``_session``: their own session, else their trace's (read only for a
    ``--where session=...`` filter: it costs a pass over the calls)."""
    return f"""(
    SELECT c.*, coalesce(c.session_id, ts.session_id) AS _session FROM calls c
    LEFT JOIN ({trace_sessions}) ts ON c.session_id IS NULL AND ts.trace_id = c.trace_id)"""


def lagged(*columns: str, window: str = "w") -> str:
    """``lag(col) OVER w AS prev_col, ...`` for each column."""
    return ", ".join(f"lag({col}) OVER {window} AS prev_{col}" for col in columns)


def in_list(values: tuple[str, ...] | frozenset[str] | list[str]) -> str:
    """A SQL list of string literals, ``('a', 'b')`` (``(NULL)`` when empty, which matches nothing)."""
    quoted = [("'" + v.replace("'", "''") + "'") for v in sorted(values)]
    return "(" + (", ".join(quoted) or "NULL") + ")"
