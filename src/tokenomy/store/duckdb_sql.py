"""The SQL that reads native JSONL and vouches for every value in the same pass: typed rows or an error.

DuckDB's ``read_json`` casts leniently (``"12"`` becomes 12, ``1.5`` becomes 2, ``true``
becomes ``'true'``), while :func:`tokenomy.native.call_from_native` rejects these. So numbers,
booleans, the id, lists and maps are read as JSON text, whose first characters show their type,
and checked before they are cast; strings are read as VARCHAR, where a boolean or an object
would arrive as ``true`` or ``{...}`` and is refused; a container of the wrong kind (a string
where ``usage`` should be an object) makes ``read_json`` fail.

Each SELECT built here reads the file once and keeps one kind of line (calls, or charges) as
rows with the store's column names. Every value is checked in that same pass: a line that fails a
check raises DuckDB's ``error()``, which aborts the statement, so the caller's transaction rolls
back and the file goes to the Python path (store/native_file.py), which reports each bad record
with its line and field. The checks are conservative: whatever they cannot vouch for (an
epoch-seconds time, a time with an offset, a whole number written ``3.0``) aborts the fast path,
and the Python path has the final word. Nothing is materialised and nothing is flagged per row.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Final

from tokenomy.native import FLOAT_FIELDS, INT_FIELDS, STR_FIELDS, TOKEN_FIELDS, USAGE_KEYS
from tokenomy.providers import renamed_aliases
from tokenomy.schema import (
    ATTRIBUTION_FIELDS,
    BUCKETS,
    COST_PARTS,
    INPUT_BUCKETS,
    MODAL_BUCKETS,
    MODAL_KEYS,
    OUTPUT_BUCKETS,
    Kind,
    Quality,
    Status,
)
from tokenomy.store.duckdb_dialect import quote as _quote
from tokenomy.store.private import error_kind_sql

REJECTED: Final = "tokenomy: a line the SQL reader cannot vouch for"
"""The message of the error a bad line raises (the caller falls back to the Python path)."""
_SEP: Final = "\x1f"
_RAISE: Final = f"error('{REJECTED}')"
FORBIDDEN: Final = {
    "integer": rf"[^0-9{_SEP}]",
    "number": rf"[^0-9.eE+{_SEP}-]|(^|{_SEP})-",
    "signed": rf"[^0-9.eE+{_SEP}-]",
    "boolean": rf"[^truefals{_SEP}]",
}
"""Per kind of JSON leaf, a pattern that finds a bad character in its texts joined by U+001F (one
search per row is cheaper than one per leaf). A JSON string shows a quote, an object a brace, a
boolean letters no number has; so counts are plain digits (a count too large for 64 bits makes
the cast raise), numbers are not negative where they must not be, and a text made of the letters
of ``true`` and ``false`` alone can only be one of those two words."""
DECIMAL_RE: Final = r"\d{1,26}(\.\d+)?([eE][-+]?\d{1,2})?"
"""Amounts the fast path takes: decimal strings (plain, or in exponent form: ``7.5E-8`` too), never
negative (a line with one is read again in Python, which rejects it naming the field).
DuckDB's cast to DECIMAL(38, 12) rounds extra places half away from zero, as the Python path does."""
DATE_RE: Final = r"\d{4}-\d\d-\d\d.*"

_COUNTS: Final = (*BUCKETS, "input_total", "output_total")
_TIME_FORMATS: Final = "['%Y-%m-%dT%H:%M:%S.%gZ', '%Y-%m-%dT%H:%M:%SZ', '%Y-%m-%dT%H:%M:%S.%fZ']"


def _struct(fields: dict[str, str]) -> str:
    return "STRUCT(" + ", ".join(f'"{name}" {kind}' for name, kind in fields.items()) + ")"


def _attribution_type() -> str:
    # tags are read as MAP(VARCHAR, VARCHAR): a boolean, null or object value arrives as text or NULL
    attribution = dict.fromkeys(ATTRIBUTION_FIELDS, "VARCHAR")
    attribution["tags"] = "MAP(VARCHAR, VARCHAR)"
    return _struct(attribution)


def call_columns() -> dict[str, str]:
    """The ``read_json`` column spec of a call line: JSON text where the type must be checked."""
    usage = dict.fromkeys((*_COUNTS, "server_tools", "modalities", "quality"), "JSON")
    usage["kind"] = "VARCHAR"
    cost = dict.fromkeys(("total", "currency", "source", "price_date", "reason"), "VARCHAR")
    cost.update(estimated="JSON", parts="JSON")
    text = ("type", "started_at", "ended_at", *STR_FIELDS, "operation", "status", "provider_reported_cost")
    columns = dict.fromkeys(text, "VARCHAR")
    columns.update(dict.fromkeys(("id", *INT_FIELDS, *FLOAT_FIELDS, "streamed", "batch"), "JSON"))
    columns.update(
        usage=_struct(usage),
        prefix_hashes="JSON",
        tool_uses="JSON",
        attribution=_attribution_type(),
        outcome=_struct({"success": "JSON", "score": "JSON", "action": "VARCHAR"}),
        cost=_struct(cost),
        content=_struct({"prompt": "VARCHAR", "completion": "VARCHAR"}),
    )
    return columns


def charge_columns() -> dict[str, str]:
    """The ``read_json`` column spec of a charge line."""
    text = ("type", "amount", "at", "kind", "currency", "session_id", "unit", "description", "source")
    columns = dict.fromkeys(text, "VARCHAR")
    columns.update(id="JSON", quantity="JSON", attribution=_attribution_type())
    return columns


def read_json(path: str, columns: dict[str, str]) -> str:
    """``read_json`` of a native JSONL file with an explicit column spec (nothing is sampled)."""
    spec = "{" + ", ".join(f"\"{name}\": '{kind}'" for name, kind in columns.items()) + "}"
    return f"read_json({_quote(path)}, format = 'newline_delimited', columns = {spec})"


def _in_list(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(_quote(v) for v in values) + ")"


@dataclass(slots=True)
class _Select:
    """The SELECT being built: output expressions and the checks that vouch for them.

    A JSON leaf arrives as its compact JSON text, so its type shows in its first character and
    most checks are string tests (much cheaper than parsing the value again).
    """

    columns: list[tuple[str, str]] = field(default_factory=list)
    """(name, value expression) of each output column."""
    checks: list[str] = field(default_factory=list)
    groups: dict[str, list[str]] = field(default_factory=dict)
    """Raw texts checked together by one regular expression per kind (see :data:`GROUP_PATTERNS`)."""

    def add(self, name: str, value: str, check: str | None = None) -> None:
        """An output column, and the check that vouches for it (true when valid; false or NULL
        sends the file to the Python path)."""
        self.columns.append((name, value))
        if check is not None:
            self.checks.append(check)

    def grouped(self, kind: str, text: str) -> None:
        """Check ``text`` (a JSON leaf's text) with the others of its kind (see :data:`FORBIDDEN`)."""
        self.groups.setdefault(kind, []).append(text)

    def typed(self, name: str, src: str, value: str) -> None:
        """``value`` when ``src`` is set and valid; raises when it is set and ``value`` is NULL."""
        self.add(name, f"CASE WHEN {src} IS NULL THEN NULL ELSE coalesce({value}, {_RAISE}) END")

    def string(self, name: str, src: str) -> None:
        # read as VARCHAR: a boolean or an object arrives as text, so those are refused
        odd = f"{src} IN ('true', 'false') OR starts_with({src}, '{{') OR starts_with({src}, '[')"
        self.add(name, src, f"({src} IS NULL OR NOT ({odd}))")

    def error_kind(self, name: str, src: str) -> None:
        """A string kept only when it is an error classification (:func:`tokenomy.errors.error_kind`),
        else NULL: free text there can quote a prompt or a key."""
        self.string(name, src)
        name_, value = self.columns.pop()
        self.columns.append((name_, f"CASE WHEN {error_kind_sql(value)} THEN {value} END"))

    def integer(self, name: str, src: str) -> None:
        self.grouped("integer", f"{src}::VARCHAR")
        self.add(name, f"CAST({src}::VARCHAR AS BIGINT)")  # raises past 64 bits

    def number(self, name: str, src: str, *, non_negative: bool) -> None:
        self.grouped("number" if non_negative else "signed", f"{src}::VARCHAR")
        self.add(name, f"TRY_CAST({src}::VARCHAR AS DOUBLE)")

    def boolean(self, name: str, src: str, default: str | None = None) -> None:
        text = f"{src}::VARCHAR"
        self.grouped("boolean", text)
        value = f"({text} = 'true')" if default is None else f"coalesce({text} = 'true', {default})"
        self.add(name, value)

    def time(self, name: str, src: str) -> None:
        value = f"CASE WHEN length({src}) IN (20, 24, 27) THEN try_strptime({src}, {_TIME_FORMATS}) END"
        self.typed(name, src, value)

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

    def identity(self) -> None:
        """The id, read as JSON: it must be a string (a number is refused), and not empty."""
        text = "r.id::VARCHAR"
        self.add("id", _ID, f"(starts_with({text}, '\"') AND {text} <> '\"\"')")

    def attribution(self) -> None:
        for name in ATTRIBUTION_FIELDS:
            self.string(name, f"r.attribution.{name}")
        # str(v) of a boolean, a null or an object in Python is not what DuckDB's text would be
        tags = "coalesce(r.attribution.tags, MAP {})"
        self.add("tags", tags)
        self.checks.append(
            "(r.attribution.tags IS NULL OR NOT coalesce(list_bool_or(list_transform(map_values("
            "r.attribution.tags), lambda v: v IS NULL"
            " OR v IN ('true', 'false') OR starts_with(v, '{') OR starts_with(v, '['))), false))"
        )

    def all_checks(self) -> str:
        """Every check on the raw values, one regular expression per group of JSON leaves."""
        grouped = []
        for kind, texts in self.groups.items():
            joined = f"concat_ws(chr(31), {', '.join(texts)})"
            grouped.append(f"NOT regexp_matches({joined}, {_quote(FORBIDDEN[kind])})")
        return "\n        AND ".join([*self.checks, *grouped]) or "true"

    def select_list(self, only: str | None = None) -> str:
        """The output columns; with ``only``, each is NULL on rows where ``only`` does not hold."""
        if only is None:
            return ", ".join(f'{value} AS "{name}"' for name, value in self.columns)
        return ", ".join(f'CASE WHEN {only} THEN {value} END AS "{name}"' for name, value in self.columns)


_ID: Final = r"CASE WHEN contains(r.id::VARCHAR, '\') THEN r.id ->> '$' ELSE (r.id::VARCHAR)[2:-2] END"
"""The id of a line read as JSON text: the string between its quotes (decoded when it holds escapes)."""
_JSTR: Final = r'"[^"\\\x00-\x1f]*"'
"""A JSON string without escapes (anything else goes to the Python path)."""


def _seq(open_: str, item: str, close: str) -> str:
    return rf"\{open_}(({item})(,({item}))*)?\{close}"


def _tool_use_pattern() -> str:
    other = rf'"args_hash":({_JSTR}|null)|"server":(true|false|null)'
    item = rf'\{{(({other}),)*"name":{_JSTR}(,({other}))*\}}'
    return _seq("[", item, "]")


def _call_scalars(sel: _Select) -> None:
    sel.identity()
    for name in STR_FIELDS:
        if name == "error_type":  # a classification only, as the native reader keeps it (errors.error_kind)
            sel.error_kind(name, f"r.{name}")
        else:
            sel.string(name, f"r.{name}")
    # a provider not spelt as its canonical id ("OpenAI", "azure_openai") is read by the Python path
    renamed = ", ".join(_quote(name) for name in sorted(renamed_aliases()))
    sel.checks.append(
        "(r.provider IS NULL OR r.provider = '' OR (regexp_full_match(r.provider, '[a-z0-9_-]+')"
        f" AND r.provider NOT IN ({renamed})))"  # (no capital, dot, space, tab or control character)
    )
    for name in INT_FIELDS:
        sel.integer(name, f"r.{name}")
    for name in FLOAT_FIELDS:
        sel.number(name, f"r.{name}", non_negative=True)
    sel.time("started_at", "r.started_at")
    sel.time("ended_at", "r.ended_at")
    # an end before the start: the Python path rejects the line, naming ended_at (compared as text,
    # the fraction padded to microseconds: cheaper than parsing both times again)
    start, end = (_time_key(f"r.{name}") for name in ("started_at", "ended_at"))
    sel.checks.append(f"(r.started_at IS NULL OR r.ended_at IS NULL OR {start} <= {end})")
    sel.boolean("streamed", "r.streamed")
    sel.boolean("batch", "r.batch", default="false")
    sel.string("_operation", "r.operation")
    sel.enum("status", "r.status", tuple(s.value for s in Status), Status.OK.value)


def _time_key(src: str) -> str:
    """A time in one of the fast path's forms (``...:SSZ``, ``.mmmZ``, ``.ffffffZ``) as text that sorts
    as the time does: the seconds, then the fraction padded to six digits."""
    fraction = f"CASE WHEN length({src}) > 20 THEN substr({src}, 21, length({src}) - 21) ELSE '' END"
    return f"(left({src}, 19) || rpad({fraction}, 6, '0'))"


def _usage(sel: _Select) -> None:
    for name in _COUNTS:
        sel.integer(f"_u_{name}", f"r.usage.{name}")
    filler, visible = (
        f"TRY_CAST({v}::VARCHAR AS BIGINT)" for v in ("r.filler_tokens", "r.usage.output_visible")
    )
    # filler beyond the visible output: the Python path rejects the line, naming filler_tokens
    sel.checks.append(f"({filler} IS NULL OR {visible} IS NULL OR {filler} <= {visible})")
    # at most 10 digits (below MAX_TOKENS): a larger count is judged by the Python path, which refuses
    # one above it naming the field (counts are plain digits, see FORBIDDEN)
    texts = [f"r.usage.{name}" for name in _COUNTS] + [f"r.{name}" for name in TOKEN_FIELDS]
    sel.checks.append(f"coalesce(greatest({', '.join(f'length({t}::VARCHAR)' for t in texts)}), 0) <= 10")
    sel.enum("usage_kind", "r.usage.kind", tuple(k.value for k in Kind), Kind.REPORTED.value)
    counts = _seq("{", rf"{_JSTR}:\d{{1,18}}", "}")
    sel.shaped("server_tools", "r.usage.server_tools", counts, "MAP(VARCHAR, BIGINT)", "MAP {}")
    _modalities(sel)
    flags = _seq("[", "|".join(f'"{q.value}"' for q in Quality), "]")
    sel.shaped("_quality", "r.usage.quality", flags, ["VARCHAR"], "[]")


def _modalities(sel: _Select) -> None:
    """``usage.modalities``: known keys only, counts of 0 dropped as Usage.of drops them.

    A key given twice reads as NULL in ``json_transform`` (Python keeps the last): that raises, and
    the Python path reads the line.
    """
    src = "r.usage.modalities"
    keys = "|".join(re.escape(key) for key in MODAL_KEYS)
    pattern = _seq("{", rf'"({keys})":\d{{1,10}}', "}")  # below MAX_TOKENS, as the counts above
    read = f"coalesce(json_transform({src}, {_quote(json.dumps('MAP(VARCHAR, BIGINT)'))}), {_RAISE})"
    kept = f"map_from_entries(list_filter(map_entries({read}), lambda e: e.value <> 0))"
    sel.add(
        "modalities",
        f"CASE WHEN {src} IS NULL THEN MAP {{}} ELSE {kept} END",
        f"({src} IS NULL OR regexp_full_match({src}::VARCHAR, {_quote(pattern)}))",
    )


def _modality_exceeds() -> str:
    """True when a known bucket's modality counts add up to more than it (as Usage.of flags it)."""
    over = []
    for bucket in MODAL_BUCKETS:
        keys = [key for key in MODAL_KEYS if key.startswith(bucket + ".")]
        total = " + ".join(f"coalesce(modalities[{_quote(key)}], 0)" for key in keys)
        over.append(f"({total}) > _u_{bucket}")
    return f"(cardinality(modalities) > 0 AND coalesce({' OR '.join(over)}, false))"


def _call_rest(sel: _Select) -> None:
    sel.shaped("prefix_hashes", "r.prefix_hashes", _seq("[", _JSTR, "]"), ["VARCHAR"], "[]")
    tool_type = [{"name": "VARCHAR", "args_hash": "VARCHAR", "server": "BOOLEAN"}]
    sel.shaped("_tool_uses", "r.tool_uses", _tool_use_pattern(), tool_type, "[]")
    sel.attribution()
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
    sel.checks.append(f"(r.cost.parts IS NULL OR regexp_full_match(r.cost.parts::VARCHAR, {_quote(parts)}))")
    for part in COST_PARTS:
        sel.add(f"cost_{part}", f"CAST(r.cost.parts ->> '{part}' AS DECIMAL(38, 12))")
    sel.string("_cost_currency", "r.cost.currency")
    # USD only (not_usd): a cost in another currency would be summed with the others as dollars.
    sel.checks.append("coalesce(r.cost.currency = '' OR upper(r.cost.currency) = 'USD', true)")
    sel.string("cost_source", "r.cost.source")
    sel.string("cost_reason", "r.cost.reason")
    sel.boolean("_cost_estimated", "r.cost.estimated")
    text = "r.cost.price_date"
    pattern = _quote(DATE_RE)
    sel.add(
        "cost_price_date",
        f"CAST(left({text}, 10) AS DATE)",
        f"({text} IS NULL OR regexp_full_match({text}, {pattern}))",
    )


def _checked(sel: _Select, source: str, keep: str) -> str:
    """Rows of ``source`` for which ``keep`` holds, each checked: a bad one raises :data:`REJECTED`.

    ``keep`` sits inside the same CASE as the checks, so that no reordering of filters can run
    a check on a line of the other kind.
    """
    return f"""
        SELECT {sel.select_list()}
        FROM {source} r
        WHERE CASE WHEN NOT ({keep}) THEN false WHEN {sel.all_checks()} THEN true ELSE {_RAISE} END
    """


def _side_total(buckets: tuple[str, ...], total: str) -> tuple[str, str]:
    """(total, mismatch) expressions: the total derived from known buckets, as Usage.of does."""
    known = " AND ".join(f"_u_{b} IS NOT NULL" for b in buckets)
    computed = " + ".join(f"_u_{b}" for b in buckets)
    value = f"CASE WHEN {known} THEN coalesce(_u_{total}, {computed}) ELSE _u_{total} END"
    mismatch = f"({known} AND _u_{total} IS NOT NULL AND _u_{total} <> {computed})"
    return value, mismatch


def pricing_flags(has_cost: str) -> str:
    """The columns the insert prices by, from a row with the ``calls`` columns.

    ``_has_cost`` (``has_cost``, the call carries its own cost), ``_model`` and ``_day`` (the
    price key parts), ``_tod`` (microseconds since the day's UTC midnight: the price window) and
    ``_pricing``, how SQL prices the call: ``kept`` (its own cost), ``unnamed`` (no model: unpriced),
    ``flagged`` (data-quality flags: unpriced), ``empty`` (no usage at all: unpriced), ``full``
    (every bucket known, no server tools, all tokens text: priced from the rates), or NULL: the
    Pricer prices it in Python (unknown buckets, server tools, audio, image or video tokens, no start
    time...).
    """
    counts_null = " AND ".join(f"{name} IS NULL" for name in _COUNTS)
    buckets_known = " AND ".join(f"{b} IS NOT NULL" for b in BUCKETS)
    text = "cardinality(modalities) = 0"
    return f"""{has_cost} AS _has_cost,
        CASE WHEN response_model <> '' THEN response_model ELSE request_model END AS _model,
        started_at::DATE AS _day,
        epoch_us(started_at) % 86400000000 AS _tod,
        CASE WHEN {has_cost} THEN 'kept'
             WHEN coalesce(response_model, '') = '' AND request_model IS NULL THEN 'unnamed'
             WHEN coalesce(response_model, '') = '' AND request_model = '' OR started_at IS NULL THEN NULL
             WHEN len(quality) > 0 THEN 'flagged'
             WHEN {counts_null} AND {text} THEN 'empty'
             WHEN {buckets_known} AND cardinality(server_tools) = 0 AND {text} THEN 'full'
        END AS _pricing"""


_TEXT_COLUMNS: Final = frozenset({"prompt_text", "completion_text"})


def calls_select(path: str, *, keep_content: bool = True) -> str:
    """The call lines of a native JSONL file as ``calls`` rows plus :func:`pricing_flags`.

    The cost columns hold the line's own cost (NULL when it has none); ``imported_at`` is left to
    the insert. Without ``keep_content`` the prompt and completion text are NULL (still checked, as
    the line-by-line read checks them), however the file spells their key. Raises :data:`REJECTED`
    (through DuckDB) at the first line it cannot vouch for.
    """
    sel = _Select()
    for part in (_call_scalars, _usage, _call_rest, _cost):
        part(sel)
    if not keep_content:
        sel.columns = [(n, "NULL" if n in _TEXT_COLUMNS else v) for n, v in sel.columns]
    in_total, in_mismatch = _side_total(INPUT_BUCKETS, "input_total")
    out_total, out_mismatch = _side_total(OUTPUT_BUCKETS, "output_total")
    tm, me = (_quote(q.value) for q in (Quality.TOTAL_MISMATCH, Quality.MODALITY_EXCEEDS_BUCKET))
    mismatch = f"({in_mismatch} OR {out_mismatch}) AND NOT list_contains(_quality, {tm})"
    # the flags Usage.of adds, in its order, each unless given (a rare case: a branch of its own)
    flagged = (
        f"list_concat(list_concat(_quality, CASE WHEN {mismatch} THEN [{tm}] ELSE [] END),"
        f" CASE WHEN NOT list_contains(_quality, {me}) THEN [{me}] ELSE [] END)"
    )
    # a flag given twice is dropped by Usage.of: the fast path leaves that to the Python path
    quality = (
        f"CASE WHEN len(_quality) > 0 AND len(list_distinct(_quality)) <> len(_quality) THEN {_RAISE}"
        f" WHEN {_modality_exceeds()} THEN {flagged}"
        f" WHEN {mismatch} THEN list_append(_quality, {tm}) ELSE _quality END"
    )
    internal = ", ".join(f"_u_{name}" for name in _COUNTS)
    # an outcome (or an unknown type) is not a call: the check sends the file down the Python path,
    # which stores outcomes in their own table and names anything else by line
    sel.checks.append("(r.type IS NULL OR r.type = 'call')")
    checked = _checked(sel, read_json(path, call_columns()), "r.type IS DISTINCT FROM 'charge'")
    return f"""
    SELECT *, {pricing_flags("_has_cost")}
    FROM (
        SELECT * EXCLUDE ({internal}, _quality, _operation, _cost_currency, _cost_estimated, _tool_uses),
            CASE WHEN len(_tool_uses) = 0 THEN _tool_uses ELSE list_transform(_tool_uses,
                lambda t: {{'name': t.name, 'args_hash': t.args_hash, 'server': coalesce(t.server, false)}})
            END AS tool_uses,
            {", ".join(f"_u_{b} AS {b}" for b in BUCKETS)},
            {in_total} AS input_total,
            {out_total} AS output_total,
            {quality} AS quality,
            coalesce(nullif(_operation, ''), 'chat') AS operation,
            CASE WHEN _has_cost THEN 'USD' END AS cost_currency,
            CASE WHEN _has_cost THEN coalesce(_cost_estimated, false) END AS cost_estimated
        FROM ({checked})
    )
    """


_CHARGE: Final = "r.type IS NOT DISTINCT FROM 'charge'"


def _charge_fields() -> _Select:
    """The ``charges`` columns of a charge line and their checks (``kind`` and ``currency`` raw)."""
    sel = _Select()
    sel.identity()
    sel.decimal("amount", "r.amount")
    sel.time("at", 'r."at"')
    sel.checks.append('(r.amount IS NOT NULL AND r."at" IS NOT NULL)')
    sel.checks.append("coalesce(r.currency = '' OR upper(r.currency) = 'USD', true)")  # USD only: not_usd
    for name in ("_kind", "_currency", "session_id", "unit", "description", "source"):
        sel.string(name, f"r.{name.lstrip('_')}")
    sel.number("quantity", "r.quantity", non_negative=True)
    sel.attribution()
    return sel


_MODEL: Final = "CASE WHEN r.response_model <> '' THEN r.response_model ELSE r.request_model END"
_DAY: Final = "TRY_CAST(left(r.started_at, 10) AS DATE)"
_SURVEY_COLUMNS: Final = {
    "type": "VARCHAR",
    **dict.fromkeys(("provider", "request_model", "response_model", "started_at", "service_tier"), "VARCHAR"),
    "batch": "JSON",
    "cost": "STRUCT(total VARCHAR)",
    "usage": "JSON",
}
"""What a survey reads of every line: its kind, the price key of a call without a cost, and its
usage object's keys (the calls' own read takes the known keys as a struct, which ignores others)."""
_USAGE_KNOWN: Final = (
    "coalesce(list_has_all(["
    + ", ".join(_quote(key) for key in sorted(USAGE_KEYS))
    + "], json_keys(r.usage)), true)"
)
"""True unless a line's ``usage`` object holds a key tokenomy does not know (its tokens would be lost)."""


def _priced_by_sql() -> str:
    """True on a call line without a cost whose price key SQL can compute (model and day known)."""
    return f"NOT {_CHARGE} AND r.cost IS NULL AND {_MODEL} <> '' AND {_DAY} IS NOT NULL"


def _price_key() -> str:
    """The price key of a call line without a cost, as the insert will compute it (else NULL)."""
    key = (
        f"{{'provider': nullif(r.provider, ''), 'model': {_MODEL}, 'day': {_DAY},"
        " 'service_tier': nullif(r.service_tier, ''), 'batch': coalesce(r.batch::VARCHAR = 'true', false)}"
    )
    return f"CASE WHEN {_priced_by_sql()} THEN {key} END"


def lines_select(path: str, *, charges: bool = True) -> str:
    """Every line of a native JSONL file as one narrow row, read in one pass before anything is written.

    Columns: ``_charge`` (a charge line), ``_h`` (a hash of the line's kind and id: a repeated id
    repeats it), ``_key`` (the price key of a call without a cost, as SQL will compute it; NULL
    for other lines) and, with ``charges``, the ``charges`` columns, set on charge lines only and
    checked there (a charge line the checks cannot vouch for raises :data:`REJECTED`). Calls are
    read leniently here: :func:`calls_select` judges them. :func:`survey_sql` and
    :func:`charges_select` read these rows.
    """
    columns = charge_columns() if charges else {"type": "VARCHAR", "id": "JSON"}
    columns.update(_SURVEY_COLUMNS)
    sel = _charge_fields() if charges else _Select()
    values = f",\n        {sel.select_list(only=_CHARGE)}" if charges else ""
    return f"""
    SELECT {_CHARGE} AS _charge, hash({_ID}, {_CHARGE}) AS _h, {_price_key()} AS _key{values}
    FROM {read_json(path, columns)} r
    WHERE CASE WHEN NOT {_CHARGE} AND {_USAGE_KNOWN} THEN true WHEN NOT {_CHARGE} THEN {_RAISE}
               WHEN {sel.all_checks()} THEN true ELSE {_RAISE} END
    """


def charges_select(lines: str) -> str:
    """The charge lines of ``lines`` (a table or parenthesised query of :func:`lines_select`) as
    ``charges`` rows, in file order."""
    names = ", ".join(f'"{name}"' for name, _ in _charge_fields().columns if not name.startswith("_"))
    return f"""
    SELECT {names},
        coalesce(nullif(_kind, ''), 'other') AS kind,
        'USD' AS currency
    FROM {lines}
    WHERE _charge
    """


def survey_sql(lines: str) -> str:
    """What the import needs to know before it writes, from ``lines`` (see :func:`lines_select`).

    Returns one row: ``calls`` and ``charges`` (line counts), ``distinct_ids`` (distinct hashes of
    (kind, id); equal to the line count only when no id repeats) and ``keys``, the distinct price
    keys (provider, model, day, service_tier, batch) of the calls without a cost.
    """
    return f"""
    SELECT count(*) FILTER (WHERE NOT _charge) AS calls,
           count(*) FILTER (WHERE _charge) AS charges,
           count(DISTINCT _h) AS distinct_ids,
           list(DISTINCT _key) FILTER (WHERE _key IS NOT NULL) AS keys
    FROM {lines}
    """


def keys_survey_sql(path: str) -> str:
    """The survey of a file whose charges need not be kept: one narrow read, grouped by price key.

    Returns one row, as :func:`survey_sql` does, but with ``distinct_ids`` NULL: ids are not
    read (their repeats are found among the inserted rows instead, which costs less than hashing
    every line's id here). Counting lines per price key, rather than building a key per line,
    keeps this the cheapest read of the file the import makes.
    """
    return f"""
    SELECT coalesce(sum(n) FILTER (WHERE NOT _charge), 0) AS calls,
           coalesce(sum(n) FILTER (WHERE _charge), 0) AS charges,
           NULL AS distinct_ids,
           list({{'provider': provider, 'model': model, 'day': day, 'service_tier': service_tier,
                 'batch': batch}}) FILTER (WHERE _priced) AS keys
    FROM (
        SELECT {_CHARGE} AS _charge, {_priced_by_sql()} AS _priced,
               nullif(r.provider, '') AS provider, {_MODEL} AS model, {_DAY} AS day,
               nullif(r.service_tier, '') AS service_tier,
               coalesce(r.batch::VARCHAR = 'true', false) AS batch, count(*) AS n
        FROM {read_json(path, _SURVEY_COLUMNS)} r
        WHERE CASE WHEN {_CHARGE} OR {_USAGE_KNOWN} THEN true ELSE {_RAISE} END
        GROUP BY ALL
    )
    """
