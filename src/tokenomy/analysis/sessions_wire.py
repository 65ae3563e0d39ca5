"""The session ranking (:class:`~tokenomy.analysis.sessions.SessionList`) read back from its JSON.

The ranking travels as :func:`~tokenomy.analysis.serialize.sessions_json` writes it (what
``tokenomy sessions --format json`` prints): the collector's ``GET /api/v1/sessions?view=top``
answers it, ``tokenomy sessions --server`` reads it back here and prints it with the store path's
code, and the HTML report's data carries it too (:mod:`tokenomy.analysis.overview_wire`). Read
back, the list equals the one computed: amounts with the same digits, times at full precision.

:func:`sessions_from_json` raises ``KeyError``, ``TypeError``, ``ValueError`` or
``ArithmeticError`` on data that does not read; callers name the source.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from tokenomy.analysis.cost_split import ROW_PARTS
from tokenomy.analysis.sessions import SessionList, SessionRow
from tokenomy.analysis.wire_values import int_from_json, money_from_json, text_from_json, time_from_json
from tokenomy.schema import BUCKETS

_OUTCOMES: Final = {"success": True, "failure": False, "unknown": None}
"""A session's outcome as :func:`~tokenomy.analysis.serialize.session_row_json` writes it."""


def sessions_from_json(data: Mapping[str, Any]) -> SessionList:
    """The sessions :func:`~tokenomy.analysis.serialize.sessions_json` wrote (each row's cost,
    duration and outcome, which it writes too, follow from the row's other fields)."""
    by = tuple(str(name) for name in data["by"])
    return SessionList(
        rows=tuple(_session_row(row, by) for row in data["rows"]),
        sessions=int_from_json(data["sessions"]),
        by=by,
        no_session_calls=int_from_json(data["no_session_calls"]),
    )


def _session_row(row: Mapping[str, Any], by: tuple[str, ...]) -> SessionRow:
    outcome = row["outcome"]
    if outcome not in _OUTCOMES:
        raise ValueError(f"a session's outcome should be one of {', '.join(_OUTCOMES)}, got {outcome!r}")
    return SessionRow(
        session_id=str(row["session_id"]),
        group={name: _label(row[name], name) for name in by},
        calls=int_from_json(row["calls"]),
        charges=int_from_json(row["charges"]),
        tokens={b: _count(row[b]) for b in BUCKETS},
        input_total=_count(row["input_total"]),
        output_total=_count(row["output_total"]),
        llm_cost=money_from_json(row["llm_cost"]),
        charge_cost=money_from_json(row["charge_cost"]),
        unpriced=int_from_json(row["unpriced"]),
        started_at=time_from_json(row["started_at"]),
        ended_at=time_from_json(row["ended_at"]),
        success=_OUTCOMES[outcome],
        action=text_from_json(row["action"]),
        agents=int_from_json(row["agents"]),
        sub_calls=int_from_json(row["sub_calls"]),
        untotalled=int_from_json(row.get("untotalled", 0)),  # 0 from a collector older than the field
        estimated=int_from_json(row.get("estimated", 0)),  # (as this one)
        parts=_parts(row),
    )


def _count(value: Any) -> int | None:
    """A session's token sum: a whole number, or null when none of its calls reported it."""
    return None if value is None else int_from_json(value)


def _parts(row: Mapping[str, Any]) -> dict[str, Decimal] | None:
    """A session's cost per part; None when none of its calls is priced (its columns null), or from
    a collector older than the columns (none of them there)."""
    found = [money_from_json(row.get(f"part_{part}")) for part in ROW_PARTS]
    if all(amount is None for amount in found):
        return None
    if any(amount is None for amount in found):
        raise ValueError("a session's cost per part should be all known or all null")
    return {part: amount for part, amount in zip(ROW_PARTS, found, strict=True) if amount is not None}


def _label(value: Any, name: str) -> str:
    """A session's value of dimension ``name`` (the ranking writes text, never null)."""
    text = text_from_json(value)
    if text is None:
        raise TypeError(f"a session's {name!r} should be text, got null")
    return text
