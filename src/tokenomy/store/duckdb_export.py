"""Stored calls written back out in the native schema, by DuckDB (no Python loop over rows).

* ``jsonl``: each line is exactly the object :func:`tokenomy.native.call_to_native` makes for
  the stored call (same keys, same order, same values; money as plain decimal strings), or
  :func:`tokenomy.native.charge_to_native` for a stored charge (``"type": "charge"``): an export
  holds the selected calls and the charges of the same period (and session), so importing it
  into an empty store gives the same report. The lines are built in SQL and DuckDB writes the
  file. A provider or model filter selects no charge (a charge has neither).
* ``csv`` and ``parquet``: the same fields flattened, a dot becoming an underscore
  (``usage.input_uncached`` -> ``usage_input_uncached``, ``cost.parts.output_visible`` ->
  ``cost_parts_output_visible``). Parquet keeps lists, maps and structs as such, times as
  UTC timestamps (marked as such: readers show them in UTC, not as local times) and money as
  DECIMAL(38, 12); CSV writes those as JSON text and times as native
  strings. docs/store.md lists the columns. These hold calls only (one row per call, the
  calls' columns): their cost is the LLM cost, not the charges.

Rows come out by start time (a charge's time), then calls before charges, then id, so the same
store always exports the same bytes.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import IO, Any, Final

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information

from tokenomy.errors import StoreError
from tokenomy.native import FLOAT_FIELDS, INT_FIELDS, STR_FIELDS
from tokenomy.schema import ATTRIBUTION_FIELDS, BUCKETS, COST_PARTS
from tokenomy.store.base import EXPORT_FORMATS
from tokenomy.store.duckdb_compat import arrow_reader
from tokenomy.store.duckdb_progress import Poller, tracked

ORDER: Final = "ORDER BY started_at NULLS FIRST, id"
_TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%gZ"
_AT: Final = '"at"'


def _time(column: str) -> str:
    return f"strftime({column}, '{_TIME_FORMAT}')"


def py_decimal(column: str) -> str:
    """SQL for :func:`tokenomy.native.money_text` of a DECIMAL(38, 12) value: DuckDB prints it in
    plain notation with its 12 decimal places, as ``format(value, "f")`` does."""
    return f"{column}::VARCHAR"


def _opt(key: str, column: str, value: str) -> str:
    return f"CASE WHEN {column} IS NOT NULL THEN ',\"{key}\":' || {value} END"


def _json_str(column: str) -> str:
    return f"to_json({column})::VARCHAR"


def _bool(column: str) -> str:
    return f"CASE WHEN {column} THEN 'true' ELSE 'false' END"


def _usage() -> str:
    buckets = [
        f"'\"{b}\":' || coalesce({b}::VARCHAR, 'null')" for b in (*BUCKETS, "input_total", "output_total")
    ]
    parts = ", ".join(
        [
            *buckets,
            "CASE WHEN cardinality(server_tools) > 0"
            " THEN '\"server_tools\":' || to_json(server_tools)::VARCHAR END",
            "CASE WHEN cardinality(modalities) > 0"
            " THEN '\"modalities\":' || to_json(modalities)::VARCHAR END",
            "'\"kind\":' || to_json(usage_kind)::VARCHAR",
            "CASE WHEN len(quality) > 0 THEN '\"quality\":' || to_json(quality)::VARCHAR END",
        ]
    )
    return f"',\"usage\":{{' || concat_ws(',', {parts}) || '}}'"


def _tool_uses() -> str:
    item = (
        "lambda t: '{\"name\":' || to_json(t.name)::VARCHAR || ',\"args_hash\":' "
        "|| coalesce(to_json(t.args_hash)::VARCHAR, 'null')"
        " || CASE WHEN t.server THEN ',\"server\":true' ELSE '' END || '}'"
    )
    return (
        "CASE WHEN len(tool_uses) > 0 THEN ',\"tool_uses\":['"
        f" || array_to_string(list_transform(tool_uses, {item}), ',')"
        " || ']' END"
    )


def _attribution_field(name: str) -> str:
    column = f'"{name}"'
    return f"CASE WHEN {column} IS NOT NULL THEN '\"{name}\":' || {_json_str(column)} END"


def _attribution() -> str:
    fields = [_attribution_field(name) for name in ATTRIBUTION_FIELDS]
    fields.append("CASE WHEN cardinality(tags) > 0 THEN '\"tags\":' || to_json(tags)::VARCHAR END")
    body = f"concat_ws(',', {', '.join(fields)})"
    return f"CASE WHEN {body} <> '' THEN ',\"attribution\":{{' || {body} || '}}' END"


def _outcome() -> str:
    fields = [
        f"CASE WHEN success IS NOT NULL THEN '\"success\":' || {_bool('success')} END",
        "CASE WHEN score IS NOT NULL THEN '\"score\":' || score::VARCHAR END",
        f"CASE WHEN action IS NOT NULL THEN '\"action\":' || {_json_str('action')} END",
    ]
    return (
        "CASE WHEN success IS NOT NULL OR score IS NOT NULL OR action IS NOT NULL THEN "
        f"',\"outcome\":{{' || concat_ws(',', {', '.join(fields)}) || '}}' END"
    )


def _cost() -> str:
    parts = [
        f"CASE WHEN cost_{p} IS NOT NULL THEN '\"{p}\":\"' || {py_decimal('cost_' + p)} || '\"' END"
        for p in COST_PARTS
    ]
    parts_body = f"concat_ws(',', {', '.join(parts)})"
    fields = [
        "'\"total\":' || CASE WHEN cost_total IS NULL THEN 'null'"
        f" ELSE '\"' || {py_decimal('cost_total')} || '\"' END",
        f"'\"currency\":' || {_json_str('cost_currency')}",
        f"'\"source\":' || coalesce({_json_str('cost_source')}, 'null')",
        "'\"price_date\":' || coalesce('\"' || strftime(cost_price_date, '%Y-%m-%d') || '\"', 'null')",
        f"'\"estimated\":' || {_bool('cost_estimated')}",
        f"CASE WHEN {parts_body} <> '' THEN '\"parts\":{{' || {parts_body} || '}}' END",
        f"CASE WHEN cost_reason <> '' THEN '\"reason\":' || {_json_str('cost_reason')} END",
    ]
    body = f"concat_ws(',', {', '.join(fields)})"
    return f"CASE WHEN cost_currency IS NOT NULL THEN ',\"cost\":{{' || {body} || '}}' END"


def jsonl_line(*, newline: bool = False) -> str:
    """The SQL expression of one native JSON line for a row of ``calls`` (ending in ``\\n`` if asked)."""
    pieces = [
        "'{\"id\":' || to_json(id)::VARCHAR",
        _opt("started_at", "started_at", f"'\"' || {_time('started_at')} || '\"'"),
        _opt("ended_at", "ended_at", f"'\"' || {_time('ended_at')} || '\"'"),
        *[_opt(n, n, _json_str(n)) for n in STR_FIELDS],
        *[_opt(n, n, f"{n}::VARCHAR") for n in (*INT_FIELDS, *FLOAT_FIELDS)],
        _opt("streamed", "streamed", _bool("streamed")),
        _opt("operation", "operation", _json_str("operation")),
        f"',\"batch\":' || {_bool('batch')}",
        "',\"status\":' || to_json(status)::VARCHAR",
        _usage(),
        "CASE WHEN len(prefix_hashes) > 0 THEN ',\"prefix_hashes\":' || to_json(prefix_hashes)::VARCHAR END",
        _tool_uses(),
        _attribution(),
        _outcome(),
        _cost(),
        _opt(
            "provider_reported_cost",
            "provider_reported_cost",
            f"'\"' || {py_decimal('provider_reported_cost')} || '\"'",
        ),
        'CASE WHEN prompt_text IS NOT NULL OR completion_text IS NOT NULL THEN \',"content":{"prompt":\' || '
        "coalesce(to_json(prompt_text)::VARCHAR, 'null') || ',\"completion\":' || "
        "coalesce(to_json(completion_text)::VARCHAR, 'null') || '}' END",
    ]
    end = "'}', chr(10)" if newline else "'}'"
    return f"concat({', '.join(pieces)}, {end})"


def charge_jsonl_line(*, newline: bool = False) -> str:
    """The SQL expression of one native JSON line for a row of ``charges`` (as ``charge_to_native``)."""
    optional = [
        _opt("session_id", "session_id", _json_str("session_id")),
        _opt("quantity", "quantity", "quantity::VARCHAR"),
        *[_opt(n, n, _json_str(n)) for n in ("unit", "description", "source")],
    ]
    pieces = [
        '\'{"type":"charge","id":\' || to_json(id)::VARCHAR',
        f"',\"amount\":\"' || {py_decimal('amount')} || '\"'",
        f"',\"currency\":' || {_json_str('currency')}",
        f"',\"kind\":' || {_json_str('kind')}",
        f"',\"at\":\"' || {_time(_AT)} || '\"'",
        *optional,
        _attribution(),
    ]
    end = "'}', chr(10)" if newline else "'}'"
    return f"concat({', '.join(pieces)}, {end})"


CHARGES_AS_CALLS: Final = (
    '(SELECT *, "at" AS started_at, NULL::VARCHAR AS provider, NULL::VARCHAR AS response_model,'
    " NULL::VARCHAR AS request_model FROM charges)"
)
"""The charges with the columns a calls filter reads: the time as ``started_at``, and no provider
or model (so a provider or model filter selects no charge, and a session filter its charges)."""


def _jsonl_query(where: str, params: list[Any], *, newline: bool) -> tuple[str, list[Any]]:
    """Calls and charges as native lines, ordered by time, calls first, then id."""
    calls = (
        f"SELECT started_at AS t, 0 AS k, id, {jsonl_line(newline=newline)} AS line FROM calls WHERE {where}"
    )
    charges = (
        f"SELECT started_at AS t, 1 AS k, id, {charge_jsonl_line(newline=newline)} AS line"
        f" FROM {CHARGES_AS_CALLS} WHERE {where}"
    )
    query = f"SELECT line FROM ({calls} UNION ALL {charges}) ORDER BY t NULLS FIRST, k, id"
    return query, [*params, *params]


def flat_columns(*, text: bool) -> list[str]:
    """The flattened native columns (``usage_*``, ``cost_*``...) as SQL select items.

    Args:
        text: True for CSV (times as native strings, lists and maps as JSON text); False for
            Parquet (native types).
    """

    def time(c: str) -> str:  # Parquet: a UTC instant (isAdjustedToUTC), not a local wall-clock time
        return _time(c) if text else f"timezone('UTC', {c})"

    def nested(c: str) -> str:
        return f"to_json({c})::VARCHAR" if text else c

    cols = ["id", f"{time('started_at')} AS started_at", f"{time('ended_at')} AS ended_at"]
    cols += [*STR_FIELDS, *INT_FIELDS, *FLOAT_FIELDS, "streamed", "operation", "batch", "status"]
    cols += [f"{b} AS usage_{b}" for b in (*BUCKETS, "input_total", "output_total")]
    cols += [
        f"{nested('server_tools')} AS usage_server_tools",
        f"{nested('modalities')} AS usage_modalities",
        "usage_kind",
        f"{nested('quality')} AS usage_quality",
    ]
    cols += [f"{nested('prefix_hashes')} AS prefix_hashes", f"{nested('tool_uses')} AS tool_uses"]
    cols += [f'"{a}" AS attribution_{a}' for a in ATTRIBUTION_FIELDS] + [
        f"{nested('tags')} AS attribution_tags"
    ]
    cols += ["success AS outcome_success", "score AS outcome_score", "action AS outcome_action"]
    cols += ["cost_total", "cost_currency", "cost_source", "cost_price_date", "cost_estimated", "cost_reason"]
    cols += [f"cost_{p} AS cost_parts_{p}" for p in COST_PARTS]
    cols += [
        "provider_reported_cost",
        "prompt_text AS content_prompt",
        "completion_text AS content_completion",
    ]
    return cols


def export(
    con: duckdb.DuckDBPyConnection,
    out: str | Path | IO[bytes],
    fmt: str,
    where: str,
    params: list[Any],
    *,
    progress: Callable[[float], object] | None = None,
) -> int:
    """Write the calls matching ``where`` to ``out`` (a path, ``-`` for stdout, or a binary stream).

    JSONL also holds the charges that ``where`` selects when read as a filter of calls over
    :data:`CHARGES_AS_CALLS` (same period, same session; none for a provider or model).

    ``progress``, when given, is told how far the export is (0 to 100): DuckDB's estimate of its
    statement's progress when DuckDB writes the file, the share of the lines written when they are
    streamed (DuckDB's estimate stops near half way while a result is fetched).

    Returns:
        The number of records written: calls, plus charges for JSONL.

    Raises:
        StoreError: Unknown format, or the file cannot be written.
    """
    if fmt not in EXPORT_FORMATS:
        raise StoreError(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    to_file = isinstance(out, str | Path) and str(out) != "-"
    if fmt == "jsonl":
        query, params = _jsonl_query(where, params, newline=not to_file)
    else:
        query = f"SELECT {', '.join(flat_columns(text=fmt == 'csv'))} FROM calls WHERE {where} {ORDER}"
    stream: IO[bytes] | None = None if to_file else out if not isinstance(out, str | Path) else _stdout()
    if stream is not None and fmt == "jsonl":
        lines = None if progress is None else _lines(con, where, params, progress)
        return _stream_lines(con, query, params, stream, lines)
    with watched(con, progress) if progress is not None else nullcontext():
        if stream is None:
            return _copy(con, query, params, fmt, Path(str(out)))
        with tempfile.TemporaryDirectory(prefix="tokenomy-export-") as tmp:
            path = Path(tmp) / f"calls.{fmt}"
            count = _copy(con, query, params, fmt, path)
            with path.open("rb") as handle:
                shutil.copyfileobj(handle, stream)
    stream.flush()
    return count


def _lines(
    con: duckdb.DuckDBPyConnection, where: str, params: list[Any], progress: Callable[[float], object]
) -> Callable[[int], object]:
    """Tells ``progress`` the share written of the lines a JSONL export streams (counted first)."""
    row = con.execute(
        f"SELECT (SELECT count(*) FROM calls WHERE {where})"
        f" + (SELECT count(*) FROM {CHARGES_AS_CALLS} WHERE {where})",
        [*params, *params],
    ).fetchall()  # fetchall: a half-read result blocks the connection's next statement
    total = int(row[0][0]) if row else 0
    return lambda written: progress(100.0 * written / total if total else 100.0)


@contextmanager
def watched(con: duckdb.DuckDBPyConnection, progress: Callable[[float], object]) -> Iterator[None]:
    """Report how far the queries run on ``con`` inside the block are (0 to 100: DuckDB's own
    estimate, :mod:`tokenomy.store.duckdb_progress`), the connection's settings as they were after."""
    with tracked(con), Poller(con, progress):
        yield


def _stdout() -> IO[bytes]:
    import sys  # noqa: PLC0415  (only when writing to stdout)

    return sys.stdout.buffer


_COPY_OPTIONS: Final = {
    "jsonl": "FORMAT CSV, HEADER false, QUOTE '', ESCAPE '', DELIMITER '\x1f'",
    "csv": "FORMAT CSV, HEADER true",
    "parquet": "FORMAT PARQUET, COMPRESSION zstd",
}


def _copy(con: duckdb.DuckDBPyConnection, query: str, params: list[Any], fmt: str, path: Path) -> int:
    target = str(path).replace("'", "''")
    try:
        row = con.execute(f"COPY ({query}) TO '{target}' ({_COPY_OPTIONS[fmt]})", params).fetchone()
    except (duckdb.IOException, duckdb.PermissionException) as exc:
        raise StoreError(f"{path}: cannot write the export: {exc}") from exc
    return int(row[0]) if row else 0


def _stream_lines(
    con: duckdb.DuckDBPyConnection,
    query: str,
    params: list[Any],
    stream: IO[bytes],
    written: Callable[[int], object] | None = None,
) -> int:
    """Write JSON lines to a stream straight from Arrow buffers (each value ends with its newline);
    ``written`` is told how many are written after each batch."""
    count = 0
    for batch in arrow_reader(con, query, params, batch_size=100_000):
        column = batch.column(0)
        width = 8 if pa.types.is_large_string(column.type) else 4 if pa.types.is_string(column.type) else 0
        if width and len(column):
            offsets, data = column.buffers()[1], column.buffers()[2]
            start = _offset(offsets, column.offset, width)
            end = _offset(offsets, column.offset + len(column), width)
            stream.write(memoryview(data)[start:end])
        elif len(column):
            stream.write("".join(column.to_pylist()).encode())
        count += len(column)
        if written is not None:
            written(count)
    stream.flush()
    return count


def _offset(buffer: Any, index: int, width: int) -> int:
    return int.from_bytes(memoryview(buffer)[index * width : (index + 1) * width], "little", signed=True)
