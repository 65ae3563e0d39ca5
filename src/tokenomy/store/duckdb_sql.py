"""The SQL that reads native JSONL into a typed staging table and vouches for every value in it.

DuckDB's ``read_json`` casts leniently (``"12"`` becomes 12, ``1.5`` becomes 2, ``true``
becomes ``'true'``), while :func:`tokenomy.native.call_from_native` rejects these. So numbers,
booleans, the id, lists and maps are read as JSON text, whose first characters show their type,
and checked before they are cast; strings are read as VARCHAR, where a boolean or an object
would arrive as ``true`` or ``{...}`` and is refused; a container of the wrong kind (a string
where ``usage`` should be an object) makes ``read_json`` fail. The checks are conservative:
whatever they cannot vouch for (an epoch-seconds time, a time with an offset, a number that is
not a whole number where a count is expected) marks the row bad, and a file with any bad row goes
to the Python path, which has the final word. The staging table has the ``calls`` column names
(plus the charge columns and a few ``_``-prefixed flags), so the insert that follows is a plain
projection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

from tokenomy.schema import (
    ATTRIBUTION_FIELDS,
    BUCKETS,
    COST_PARTS,
    INPUT_BUCKETS,
    OUTPUT_BUCKETS,
    Kind,
    Quality,
    Status,
)

_SEP: Final = "\x1f"
GROUP_PATTERNS: Final = {
    "integer": rf"(\d{{1,18}}({_SEP}\d{{1,18}})*)?",
    "number": rf"(\d+(\.\d+)?([eE][+-]?\d+)?({_SEP}|$))*",
    "signed": rf"(-?\d+(\.\d+)?([eE][+-]?\d+)?({_SEP}|$))*",
    "boolean": rf"((true|false)({_SEP}|$))*",
}
"""Per kind of JSON leaf, the pattern its texts, joined by U+001F, must match in full: one match
per row is cheaper than one per leaf. Counts are whole numbers of at most 18 digits (larger ones
go to the Python path, which checks the 64-bit range)."""
DECIMAL_RE: Final = r"-?\d{1,26}(\.\d+)?([eE][-+]?\d{1,2})?"
"""Amounts the fast path takes: decimal strings (as Python prints a Decimal, ``7.5E-8`` too).
DuckDB's cast to DECIMAL(38, 12) rounds extra places half away from zero, as the Python path does."""
DATE_RE: Final = r"\d{4}-\d\d-\d\d.*"

_STRS: Final = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "session_id",
    "provider",
    "request_model",
    "response_model",
    "api",
    "service_tier",
    "error_type",
    "finish_reason",
    "source",
    "unit",
    "description",
)
_INTS: Final = (
    "step",
    "context_window",
    "max_output_tokens",
    "n_messages",
    "system_tokens",
    "tool_def_tokens",
    "user_tokens",
    "history_tokens",
    "http_status",
    "filler_tokens",
)
_TOP_TEXT: Final = (
    "type",
    "started_at",
    "ended_at",
    *_STRS,
    "operation",
    "status",
    "provider_reported_cost",
    "amount",
    "kind",
    "at",
    "currency",
)
"""Top-level fields read as VARCHAR: strings, times, decimal strings and enums."""
_TOP_JSON: Final = ("id", *_INTS, "latency_ms", "ttft_ms", "streamed", "batch", "quantity")
"""Top-level fields read as JSON text, so that ``"12"`` and ``12`` stay apart."""


def _struct(fields: dict[str, str]) -> str:
    return "STRUCT(" + ", ".join(f'"{name}" {kind}' for name, kind in fields.items()) + ")"


def read_columns() -> str:
    """The ``columns`` argument of ``read_json``: every field of a call or charge.

    Numbers, booleans, lists and maps are read as JSON text (their type is checked); strings
    are read as VARCHAR, where a boolean or an object would show as ``true`` or ``{...}``.
    """
    usage = dict.fromkeys((*BUCKETS, "input_total", "output_total", "server_tools", "quality"), "JSON")
    usage["kind"] = "VARCHAR"
    attribution = dict.fromkeys(ATTRIBUTION_FIELDS, "VARCHAR")
    attribution["tags"] = "MAP(VARCHAR, VARCHAR)"
    cost = dict.fromkeys(("total", "currency", "source", "price_date", "reason"), "VARCHAR")
    cost.update(estimated="JSON", parts="JSON")
    columns = dict.fromkeys(_TOP_TEXT, "VARCHAR")
    columns.update(dict.fromkeys(_TOP_JSON, "JSON"))
    columns.update(
        usage=_struct(usage),
        prefix_hashes="JSON",
        tool_uses="JSON",
        attribution=_struct(attribution),
        outcome=_struct({"success": "JSON", "score": "JSON", "action": "VARCHAR"}),
        cost=_struct(cost),
        content=_struct({"prompt": "VARCHAR", "completion": "VARCHAR"}),
    )
    return "{" + ", ".join(f"\"{name}\": '{kind}'" for name, kind in columns.items()) + "}"


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _in_list(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(_quote(v) for v in values) + ")"


@dataclass(slots=True)
class _Select:
    """The staging SELECT being built: output expressions and the checks that vouch for them.

    A JSON leaf arrives as its compact JSON text, so its type shows in its first character and
    most checks are string tests (much cheaper than parsing the value again).
    """

    columns: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    later: list[str] = field(default_factory=list)
    """Checks on the typed values (a failed cast leaves a sentinel), run one query level up."""
    groups: dict[str, list[str]] = field(default_factory=dict)
    """Raw texts checked together by one regular expression per kind (see :data:`GROUP_PATTERNS`)."""

    def add(self, name: str, value: str, check: str | None = None) -> None:
        self.columns.append(f'{value} AS "{name}"')
        if check is not None:
            self.checks.append(f"coalesce({check}, false)")

    def grouped(self, kind: str, text: str) -> None:
        self.groups.setdefault(kind, []).append(text)

    def typed(self, name: str, src: str, value: str, sentinel: str, valid: str) -> None:
        """``value`` when ``src`` is set and valid, else ``sentinel``; checked one level up."""
        self.add(name, f"CASE WHEN {src} IS NULL THEN NULL ELSE coalesce({value}, {sentinel}) END")
        column = f'"{name}"'
        self.later.append(f"coalesce({valid.format(column)}, true)")

    def string(self, name: str, src: str) -> None:
        # read as VARCHAR: a boolean or an object arrives as text, so those are refused
        odd = f"{src} IN ('true', 'false') OR starts_with({src}, '{{') OR starts_with({src}, '[')"
        check = f"({src} IS NULL OR NOT ({odd}))"
        self.add(name, src, check)

    def integer(self, name: str, src: str) -> None:
        self.grouped("integer", f"{src}::VARCHAR")
        self.add(name, f"TRY_CAST({src}::VARCHAR AS BIGINT)")

    def number(self, name: str, src: str, *, non_negative: bool) -> None:
        self.grouped("number" if non_negative else "signed", f"{src}::VARCHAR")
        self.add(name, f"TRY_CAST({src}::VARCHAR AS DOUBLE)")

    def boolean(self, name: str, src: str, default: str | None = None) -> None:
        text = f"{src}::VARCHAR"
        self.grouped("boolean", text)
        value = f"({text} = 'true')" if default is None else f"coalesce({text} = 'true', {default})"
        self.add(name, value)

    def time(self, name: str, src: str) -> None:
        formats = "['%Y-%m-%dT%H:%M:%S.%gZ', '%Y-%m-%dT%H:%M:%SZ', '%Y-%m-%dT%H:%M:%S.%fZ']"
        value = f"CASE WHEN length({src}) IN (20, 24, 27) THEN try_strptime({src}, {formats}) END"
        self.typed(name, src, value, "'-infinity'::TIMESTAMP", "{} <> '-infinity'::TIMESTAMP")

    def group_checks(self) -> list[str]:
        """One check per kind of grouped leaf: their texts joined, matched by one pattern."""
        checks = []
        for kind, texts in self.groups.items():
            joined = f"concat_ws(chr(31), {', '.join(texts)})"
            checks.append(f"regexp_full_match({joined}, {_quote(GROUP_PATTERNS[kind])})")
        return checks

    def decimal(self, name: str, src: str) -> None:
        pattern = _quote(DECIMAL_RE)
        self.add(
            name, f"CAST({src} AS DECIMAL(38, 12))", f"({src} IS NULL OR regexp_full_match({src}, {pattern}))"
        )

    def enum(self, name: str, src: str, values: tuple[str, ...], default: str) -> None:
        self.add(
            name, f"coalesce({src}, {_quote(default)})", f"({src} IS NULL OR {src} IN {_in_list(values)})"
        )

    def shaped(self, name: str, src: str, pattern: str, cast: Any, empty: str) -> None:
        """A list or map whose compact JSON text must match ``pattern``, read with ``json_transform``."""
        self.add(
            name,
            f"coalesce(json_transform({src}, {_quote(json.dumps(cast))}), {empty})",
            f"({src} IS NULL OR regexp_full_match({src}::VARCHAR, {_quote(pattern)}))",
        )


_JSTR: Final = r'"[^"\\\x00-\x1f]*"'
"""A JSON string without escapes (anything else goes to the Python path)."""


def _seq(open_: str, item: str, close: str) -> str:
    return rf"\{open_}(({item})(,({item}))*)?\{close}"


def _tool_use_pattern() -> str:
    other = rf'"args_hash":({_JSTR}|null)|"server":(true|false|null)'
    item = rf'\{{(({other}),)*"name":{_JSTR}(,({other}))*\}}'
    return _seq("[", item, "]")


def _identity(sel: _Select) -> None:
    # the id is read as JSON: it must be a string (a number is refused), and not empty
    text = "r.id::VARCHAR"
    value = f"CASE WHEN contains({text}, '\\') THEN r.id ->> '$' ELSE ({text})[2:-2] END"
    sel.add("id", value, f"(starts_with({text}, '\"') AND {text} <> '\"\"')")
    sel.string("_type", "r.type")
    for name in _STRS:
        sel.string(name, f"r.{name}")
    for name in _INTS:
        sel.integer(name, f"r.{name}")
    sel.number("latency_ms", "r.latency_ms", non_negative=True)
    sel.number("ttft_ms", "r.ttft_ms", non_negative=True)
    sel.time("started_at", "r.started_at")
    sel.time("ended_at", "r.ended_at")
    sel.boolean("streamed", "r.streamed")
    sel.boolean("batch", "r.batch", default="false")
    sel.string("_operation", "r.operation")
    sel.enum("status", "r.status", tuple(s.value for s in Status), Status.OK.value)


def _usage(sel: _Select) -> None:
    for name in (*BUCKETS, "input_total", "output_total"):
        sel.integer(f"_u_{name}", f"r.usage.{name}")
    sel.enum("usage_kind", "r.usage.kind", tuple(k.value for k in Kind), Kind.REPORTED.value)
    counts = _seq("{", rf"{_JSTR}:\d{{1,18}}", "}")
    sel.shaped("server_tools", "r.usage.server_tools", counts, "MAP(VARCHAR, BIGINT)", "MAP {}")
    flags = _seq("[", "|".join(f'"{q.value}"' for q in Quality), "]")
    sel.shaped("_quality", "r.usage.quality", flags, ["VARCHAR"], "[]")
    sel.later.append("len(list_distinct(_quality)) = len(_quality)")


def _rest(sel: _Select) -> None:
    sel.shaped("prefix_hashes", "r.prefix_hashes", _seq("[", _JSTR, "]"), ["VARCHAR"], "[]")
    tool_type = [{"name": "VARCHAR", "args_hash": "VARCHAR", "server": "BOOLEAN"}]
    sel.shaped("_tool_uses", "r.tool_uses", _tool_use_pattern(), tool_type, "[]")
    for name in ATTRIBUTION_FIELDS:
        sel.string(name, f"r.attribution.{name}")
    # tags are read as MAP(VARCHAR, VARCHAR): a boolean or an object value would arrive as text
    tags = "coalesce(r.attribution.tags, MAP {})"
    sel.add("tags", tags)
    sel.checks.append(
        f"NOT coalesce(list_bool_or(list_transform(map_values({tags}), lambda v: v IN ('true', 'false')"
        " OR starts_with(v, '{') OR starts_with(v, '['))), false)"
    )
    sel.boolean("success", "r.outcome.success")
    sel.number("score", "r.outcome.score", non_negative=False)
    sel.string("action", "r.outcome.action")
    sel.decimal("provider_reported_cost", "r.provider_reported_cost")
    sel.string("prompt_text", "r.content.prompt")
    sel.string("completion_text", "r.content.completion")


def _cost(sel: _Select) -> None:
    sel.add("_has_cost", "r.cost IS NOT NULL")
    sel.decimal("cost_total", "r.cost.total")
    amount = f'("{DECIMAL_RE}"|null)'
    parts = _seq("{", "|".join(f'"{part}":{amount}' for part in COST_PARTS), "}")
    sel.checks.append(
        f"coalesce(r.cost.parts IS NULL OR regexp_full_match(r.cost.parts::VARCHAR, {_quote(parts)}), false)"
    )
    for part in COST_PARTS:
        sel.add(f"cost_{part}", f"CAST(r.cost.parts ->> '{part}' AS DECIMAL(38, 12))")
    sel.string("_cost_currency", "r.cost.currency")
    sel.string("cost_source", "r.cost.source")
    sel.string("cost_reason", "r.cost.reason")
    sel.boolean("_cost_estimated", "r.cost.estimated")
    text = "r.cost.price_date"
    value = f"TRY_CAST(left({text}, 10) AS DATE)"
    pattern = _quote(DATE_RE)
    sel.add(
        "cost_price_date",
        value,
        f"(r.cost.price_date IS NULL OR (regexp_full_match({text}, {pattern}) AND {value} IS NOT NULL))",
    )


def _charge(sel: _Select) -> None:
    sel.decimal("amount", "r.amount")
    sel.time("at", 'r."at"')
    sel.string("_kind", "r.kind")
    sel.string("_currency", "r.currency")
    sel.number("quantity", "r.quantity", non_negative=True)
    sel.checks.append(
        "coalesce(r.type IS DISTINCT FROM 'charge'"
        """ OR (r.amount IS NOT NULL AND r."at" IS NOT NULL), false)"""
    )


def _inner_select() -> _Select:
    sel = _Select()
    for part in (_identity, _usage, _rest, _cost, _charge):
        part(sel)
    return sel


def _side_total(buckets: tuple[str, ...], total: str) -> tuple[str, str]:
    """(total, mismatch) expressions: the total derived from known buckets, as Usage.of does."""
    known = " AND ".join(f"_u_{b} IS NOT NULL" for b in buckets)
    computed = " + ".join(f"_u_{b}" for b in buckets)
    value = f"CASE WHEN {known} THEN coalesce(_u_{total}, {computed}) ELSE _u_{total} END"
    mismatch = f"({known} AND _u_{total} IS NOT NULL AND _u_{total} <> {computed})"
    return value, mismatch


def _regular(in_mismatch: str, out_mismatch: str) -> str:
    """Rows SQL can price: a call with no cost, a model, a start time and a complete, clean usage.

    Every other call without a cost (unknown buckets, quality flags, server tools...) is priced
    by the Pricer in Python, which also writes the reasons those cases need.
    """
    known = " AND ".join(f"_u_{b} IS NOT NULL" for b in BUCKETS)
    return (
        "(_type IS DISTINCT FROM 'charge' AND NOT _has_cost"
        " AND coalesce(response_model <> '' OR request_model <> '', false)"
        f" AND started_at IS NOT NULL AND len(_quality) = 0 AND {known}"
        f" AND NOT {in_mismatch} AND NOT {out_mismatch} AND cardinality(server_tools) = 0)"
    )


def stage_sql(path: str) -> str:
    """``CREATE TEMP TABLE _tokenomy_stage AS ...``: the file read, typed, derived and checked.

    Besides the ``calls`` columns, the stage has ``_is_charge``, ``_has_cost``, ``_bad`` (a
    check failed), ``_model`` and ``_day`` (the price key parts) and the charge columns.
    """
    inner = _inner_select()
    in_total, in_mismatch = _side_total(INPUT_BUCKETS, "input_total")
    out_total, out_mismatch = _side_total(OUTPUT_BUCKETS, "output_total")
    tm = _quote(Quality.TOTAL_MISMATCH.value)
    quality = (
        f"CASE WHEN ({in_mismatch} OR {out_mismatch}) AND NOT list_contains(_quality, {tm}) "
        f"THEN list_append(_quality, {tm}) ELSE _quality END"
    )
    buckets = ", ".join(f"_u_{b} AS {b}" for b in BUCKETS)
    checks = "\n        AND ".join([*inner.checks, *inner.group_checks()])
    later = " AND ".join(inner.later)
    return f"""
    CREATE TEMP TABLE _tokenomy_stage AS
    SELECT * EXCLUDE ({", ".join(f"_u_{b}" for b in (*BUCKETS, "input_total", "output_total"))},
                      _quality, _operation, _cost_currency, _cost_estimated, _kind, _currency, _type,
                      _tool_uses),
        _type IS NOT DISTINCT FROM 'charge' AS _is_charge,
        CASE WHEN len(_tool_uses) = 0 THEN _tool_uses ELSE list_transform(_tool_uses,
            lambda t: {{'name': t.name, 'args_hash': t.args_hash, 'server': coalesce(t.server, false)}})
        END AS tool_uses,
        {buckets},
        {in_total} AS input_total,
        {out_total} AS output_total,
        {quality} AS quality,
        coalesce(nullif(_operation, ''), 'chat') AS operation,
        CASE WHEN _has_cost THEN coalesce(nullif(_cost_currency, ''), 'USD') END AS cost_currency,
        CASE WHEN _has_cost THEN coalesce(_cost_estimated, false) END AS cost_estimated,
        coalesce(nullif(_kind, ''), 'other') AS kind,
        coalesce(nullif(_currency, ''), 'USD') AS currency,
        CASE WHEN response_model <> '' THEN response_model ELSE request_model END AS _model,
        started_at::DATE AS _day,
        {_regular(in_mismatch, out_mismatch)} AS _regular
    FROM (
        SELECT * EXCLUDE (_ok), NOT (_ok AND {later}) AS _bad
        FROM (
            SELECT {", ".join(inner.columns)},
                ({checks}) AS _ok
            FROM read_json({_quote(path)}, format = 'newline_delimited', columns = {read_columns()}) r
        )
    )
    """
