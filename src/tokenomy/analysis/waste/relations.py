"""How a call's prompt relates to the previous call's prompt in the same run, without any content.

Only hashes of prompt prefixes and token counts are compared (never text). Three relations mean
the previous call's step was asked again, so its answer was not used:

* ``resend``: the same prompt again. Every prefix hash (the last cut and the number of cuts), the
  message count and every part of the prompt shape (system, tool definitions, history, newest
  turn) are equal. Comparing the shape as well as the hashes matters: importers hash cut points
  that never include the last message, so two different prompts of equal length can share every
  hash.
* ``dropped``: the previous prompt re-sent with a new short turn after it and *without* the
  previous answer: the history is exactly the previous history plus the previous newest turn
  (a normal continuation also carries the answer, so its history is longer), one message more,
  the same system prompt and tools. The previous call must have produced output and called no
  tool: an answer whose tool calls were run was used, and the next prompt's newest turn is their
  result (some captures count a tool-call-only answer as no history tokens, which would
  otherwise look like a dropped answer).
* ``again``: the same history as the previous call, with another newest turn (same message count,
  the same hash before the newest turn). On its own this is also what a stateless agent with a
  fixed few-shot history looks like, so it only *extends* a chain that ``resend`` or ``dropped``
  started. Here too the previous call called no tool.

:func:`relation` spells each relation for any pair of column prefixes (the call and its previous
call are ``""`` and ``"prev_"``; the previous call and the one before it ``"prev_"`` and
``"prev2_"``). :data:`PAIRS` is a CTE ``pairs`` over the audited calls of the runs where a relation
can hold (:data:`CANDIDATES`), with ``prev_<column>`` for the previous call of the run and ``link``,
the relation (NULL when none).
"""

from __future__ import annotations

from typing import Final, Literal

from tokenomy.analysis.waste.sql import ROUTE_COLUMNS, RUN_WINDOW, TRUNCATED, in_list, lagged

Relation = Literal["resend", "dropped", "again"]

PAIR_COLUMNS: Final = (
    "id",
    "status",
    "http_status",
    "ph_first",
    "ph_before",
    "ph_last",
    "ph_n",
    "n_messages",
    "system_tokens",
    "tool_def_tokens",
    "history_tokens",
    "user_tokens",
    "input_total",
    "output_total",
    "cost_total",
    "finish_reason",
    "max_output_tokens",
    "started_at",
    "ended_at",
    "n_tools",
)
"""The columns a relation reads, carried from the previous call as ``prev_<column>``."""

_SHAPE: Final = ("n_messages", "system_tokens", "tool_def_tokens", "history_tokens", "user_tokens")


def relation(kind: Relation, c: str = "", p: str = "prev_") -> str:
    """The SQL condition that the call with column prefix ``c`` is ``kind`` of the one with prefix ``p``."""
    if kind == "resend":
        shape = " AND ".join(f"{c}{col} IS NOT DISTINCT FROM {p}{col}" for col in _SHAPE)
        return (
            f"({c}ph_last IS NOT NULL AND {c}ph_last = {p}ph_last AND {c}ph_n = {p}ph_n"
            f" AND coalesce({c}n_messages, {c}history_tokens, {c}user_tokens) IS NOT NULL AND {shape})"
        )
    if kind == "dropped":
        return (
            f"({c}history_tokens > 0 AND {p}status = 'ok' AND {p}output_total > 0 AND {p}n_tools = 0"
            f" AND {c}history_tokens = {p}history_tokens + {p}user_tokens AND {c}ph_first = {p}ph_first"
            f" AND {c}system_tokens IS NOT DISTINCT FROM {p}system_tokens"
            f" AND {c}tool_def_tokens IS NOT DISTINCT FROM {p}tool_def_tokens"
            f" AND ({c}n_messages IS NULL OR {p}n_messages IS NULL OR {c}n_messages = {p}n_messages + 1))"
        )
    return (
        f"({c}history_tokens > 0 AND {c}history_tokens = {p}history_tokens AND {p}n_tools = 0"
        f" AND {c}ph_first = {p}ph_first AND {c}ph_before = {p}ph_before"
        f" AND {c}n_messages IS NOT DISTINCT FROM {p}n_messages"
        f" AND {c}system_tokens IS NOT DISTINCT FROM {p}system_tokens)"
    )


def reask(c: str = "", p: str = "prev_") -> str:
    """The call re-asks the previous call's step (``dropped`` or ``again``); FALSE when unknown."""
    return f"coalesce({relation('dropped', c, p)} OR {relation('again', c, p)}, FALSE)"


LINK: Final = (
    f"CASE WHEN {relation('resend')} THEN 'resend' WHEN {relation('dropped')} THEN 'dropped'"
    f" WHEN {relation('again')} THEN 'again' END"
)
_OWN: Final = ("session", "run", "agent", "step", *PAIR_COLUMNS)

CANDIDATES: Final = f"""
    , keyed AS (
        SELECT session, coalesce(agent, '') AS agent_key, ph_last, ph_n, n_messages, history_tokens,
               user_tokens, finish_reason
        FROM audited)
    , candidates AS (
        SELECT session, agent_key FROM keyed WHERE finish_reason IN {in_list(TRUNCATED)}
        UNION
        SELECT session, agent_key FROM keyed WHERE ph_last IS NOT NULL
        GROUP BY session, agent_key, ph_last, ph_n, n_messages, history_tokens, user_tokens
        HAVING count(*) > 1
        UNION
        SELECT a.session, a.agent_key FROM keyed a JOIN keyed b
          ON b.session = a.session AND b.agent_key = a.agent_key
         AND b.history_tokens = a.history_tokens + a.user_tokens
        WHERE b.history_tokens > 0)
"""
"""``candidates``: the runs (session, agent) where a relation can hold: a truncated call, two calls
with the same prompt key, or a call whose history is another's history plus its newest turn. Every
``resend``, ``dropped`` and truncation link lies in one of them (``again`` only extends those), so
the window runs over a few percent of the calls instead of all of them."""

PAIRS: Final = (
    f"{CANDIDATES}"
    ", chosen AS (SELECT a.* FROM audited a JOIN candidates c"
    " ON c.session = a.session AND c.agent_key = coalesce(a.agent, ''))"
    f", lagged AS (SELECT {', '.join(dict.fromkeys((*_OWN, *ROUTE_COLUMNS.split(', '))))},"
    f" {lagged(*PAIR_COLUMNS)}, lead(id) OVER w AS next_id FROM chosen WINDOW w AS ({RUN_WINDOW}))"
    f", pairs AS (SELECT lagged.*, {LINK} AS link FROM lagged)"
)
"""``pairs``: every call of a candidate run with the run's previous call (``prev_*``), the id of its
next call (``next_id``, NULL for the run's last call) and their ``link``."""
