"""Redundant tool calls: the same tool with the same arguments again, when nothing could have changed.

Rule. In one session, a tool use whose name and canonical-argument hash (``args_hash``) equal an
earlier use's, with no tool between them that may change the world: a tool whose name says it
writes (edit, save, post, delete, ``cd``...) or runs arbitrary code (a shell, Python, curl) ends the
span in which repeats count (:mod:`.tools`). Only *reading* tools are judged; a use without arguments,
and tools that return something new each time (scroll, next page, time, status), never are. So
re-reading a file after an edit is not redundant, nor is running the tests again, nor polling.

Waste: the repeated result, which the model reads again. Its size is the newest turn of the run's
next call (the tool results), shared equally among the tools that step ran; its dollars are those
tokens at that call's average input rate, plus the charge of a paid tool (a charge in the same
session, named after the tool, recorded during the repeating call). The repeated request's own
output tokens are not counted (too small to matter, and not known per tool).

Evidence kept: the tool, the step of the first use, and the result tokens.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Final

from tokenomy.analysis.waste import money, tools
from tokenomy.analysis.waste.base import Context, Detection, Hit, HitCall, Route
from tokenomy.analysis.waste.sql import ROUTE_COLUMNS, RUN_WINDOW, in_list
from tokenomy.schema import WasteEffect, WasteRole

NAMES_SQL: Final = " SELECT DISTINCT t.name AS name FROM (SELECT unnest(tool_uses) AS t FROM audited) u"
_ORDER: Final = "started_at NULLS FIRST, step NULLS FIRST, id, k"


def repeats_sql(barriers: Iterable[str], readers: Iterable[str], empty: Iterable[str]) -> str:
    """Repeated uses of reading tools with no barrier since the first use (one row per repeat)."""
    span = "PARTITION BY session, epoch, tool, args"
    return f"""
        , repeated AS (
            SELECT DISTINCT session FROM (
                SELECT session, unnest(tool_uses).name AS tool, unnest(tool_uses).args_hash AS args
                FROM audited WHERE n_tools > 0)
            GROUP BY session, tool, args HAVING count(*) > 1)
        , runs AS (
            SELECT id, session, agent, started_at, ended_at, step, {ROUTE_COLUMNS}, tool_uses, n_tools,
                   lead(user_tokens) OVER w AS next_user, lead(input_total) OVER w AS next_input,
                   lead(cost_in) OVER w AS next_cost_in
            FROM audited WHERE session IN (SELECT session FROM repeated) WINDOW w AS ({RUN_WINDOW}))
        , uses AS (
            SELECT id, session, started_at, ended_at, step, next_user, next_input, next_cost_in,
                   {ROUTE_COLUMNS}, unnest(tool_uses) AS t, unnest(range(1, n_tools + 1)) AS k
            FROM runs WHERE n_tools > 0)
        , typed AS (
            SELECT *, t.name AS tool, t.args_hash AS args, count(*) OVER (PARTITION BY id) AS n_tools,
                   CASE WHEN t.name IN {in_list(list(barriers))} THEN 1 ELSE 0 END AS barrier
            FROM uses)
        , epochs AS (
            SELECT *, sum(barrier) OVER (
                       PARTITION BY session ORDER BY {_ORDER} ROWS UNBOUNDED PRECEDING) AS epoch
            FROM typed)
        , ranked AS (
            SELECT *, row_number() OVER (s ORDER BY {_ORDER}) AS nth,
                   first_value(id) OVER (s ORDER BY {_ORDER}) AS first_id,
                   first_value(step) OVER (s ORDER BY {_ORDER}) AS first_step
            FROM epochs
            WHERE tool IN {in_list(list(readers))} AND args IS NOT NULL AND args NOT IN {in_list(list(empty))}
            WINDOW s AS ({span}))
        , paid AS (
            SELECT session_id, description, "at", min(amount) AS amount FROM charges GROUP BY ALL)
        SELECT r.*, p.amount AS charge
        FROM ranked r LEFT JOIN paid p
          ON p.session_id = r.session AND p.description = r.tool
         AND p."at" >= r.started_at AND p."at" <= r.ended_at + INTERVAL 1 SECOND
        WHERE r.nth > 1
        ORDER BY r.session, r.started_at NULLS FIRST, r.step NULLS FIRST, r.id, r.k
    """


class RedundantToolCall:
    """Redundant tool calls (see the module docstring)."""

    category: Final = "redundant_tool_call"
    version: Final = 1
    title: Final = "Redundant tool calls"
    fix: Final = (
        "Memoise reading tools per session (key: tool name and canonical arguments; drop the memo "
        "when a writing tool runs), or tell the agent what it already fetched."
    )
    fix_share: Final = (Decimal("0.8"), Decimal(1))
    assumption: Final = "a per-session memo of tool results removes 80% to all of the repeats"

    def detect(self, ctx: Context) -> Detection:
        """Find repeated reading-tool uses with nothing that writes in between."""
        names = [str(r["name"]) for r in ctx.rows(NAMES_SQL) if r["name"] is not None]
        kinds = {name: tools.kind(name) for name in names}
        barriers = [n for n, k in kinds.items() if k in ("write", "exec")]
        readers = [n for n, k in kinds.items() if k == "read"]
        rows = ctx.rows(repeats_sql(barriers, readers, tools.EMPTY_ARGS)) if readers else []
        by_call: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for row in rows:
            by_call.setdefault((row["session"], row["id"]), []).append(row)
        hits = [self._hit(repeats) for repeats in by_call.values()]
        evidence = {"tools": {k: sorted(n for n, v in kinds.items() if v == k) for k in set(kinds.values())}}
        return Detection(hits=hits, evidence=evidence)

    def _hit(self, repeats: list[dict[str, Any]]) -> Hit:
        row = repeats[0]
        tokens = sum(_result_tokens(r) for r in repeats)
        rate = money.rate(row["next_cost_in"], row["next_input"])
        cost = money.dollars(tokens, rate) if tokens else Decimal(0)
        charges = [Decimal(r["charge"]) for r in repeats if r["charge"] is not None]
        if charges:
            cost = (cost or Decimal(0)) + sum(charges, Decimal(0))
        names = ", ".join(sorted({r["tool"] for r in repeats}))
        steps = sorted({r["first_step"] for r in repeats if r["first_step"] is not None})
        first = f" at step {', '.join(map(str, steps))}" if steps else ""
        note = f"{names} again with the same arguments as{first or ' before'}; nothing was written in between"
        calls = [
            *[HitCall(fid, WasteRole.CONTEXT, note=f"first {names}") for fid in _firsts(repeats)],
            HitCall(
                row["id"], WasteRole.WASTED, tokens, cost, None, WasteEffect.EXTRA, note, row["started_at"]
            ),
        ]
        return Hit(self.category, row["session"], Route.of(row), tuple(calls), note)


def _firsts(repeats: list[dict[str, Any]]) -> list[str]:
    """The calls of the first uses, other than the repeating call itself (a duplicate in one step)."""
    return [fid for fid in dict.fromkeys(r["first_id"] for r in repeats) if fid != repeats[0]["id"]]


def _result_tokens(row: dict[str, Any]) -> int:
    """The repeated result's tokens: the next call's newest turn, shared among the step's tools."""
    if row["next_user"] is None:
        return 0
    return int(row["next_user"]) // max(int(row["n_tools"]), 1)
