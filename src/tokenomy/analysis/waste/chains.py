"""Consecutive linked calls of a run, assembled into chains of attempts at the same step.

The SQL of :mod:`.relations` returns one row per linked call with its previous call's columns
(``prev_*``). A chain starts at the previous call of a *starting* link and grows while each next
link's previous call is the chain's last attempt. Every attempt but the last was superseded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Row = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt of a chain: the call's id and the columns the detectors need."""

    id: str
    status: str | None
    http_status: int | None
    input_total: int | None
    output_total: int | None
    cost_total: Any
    finish_reason: str | None
    max_output_tokens: int | None
    started_at: Any
    ended_at: Any
    link: str | None
    """How this attempt relates to the one before it (None for the first)."""

    @property
    def refused(self) -> bool:
        """Answered with an HTTP error status: providers bill a refused request nothing (a 429's
        input counted locally by whoever logged it is no spend)."""
        return self.http_status is not None and self.http_status >= 400

    @property
    def tokens(self) -> int:
        """Input plus output tokens that are known and billed (none for a refused request)."""
        return 0 if self.refused else (self.input_total or 0) + (self.output_total or 0)

    @classmethod
    def previous(cls, row: Row) -> Attempt:
        """The previous call of a link row, as the first attempt of a chain."""
        return cls(**{name: row[f"prev_{name}"] for name in _FIELDS}, link=None)

    @classmethod
    def current(cls, row: Row) -> Attempt:
        """The linked call of a link row."""
        return cls(**{name: row[name] for name in _FIELDS}, link=row["link"])


_FIELDS = (
    "id",
    "status",
    "http_status",
    "input_total",
    "output_total",
    "cost_total",
    "finish_reason",
    "max_output_tokens",
    "started_at",
    "ended_at",
)


@dataclass(frozen=True, slots=True)
class Chain:
    """Attempts at one step, in order; ``row`` is the last link's row (session, route...)."""

    attempts: tuple[Attempt, ...]
    row: Row

    @property
    def superseded(self) -> tuple[Attempt, ...]:
        """Every attempt but the last."""
        return self.attempts[:-1]


def chains(rows: Iterable[Row], starts: Callable[[Row], bool], extends: Callable[[Row], bool]) -> list[Chain]:
    """Chains of link rows (ordered by run and time).

    Args:
        rows: Link rows with ``run``, ``link``, ``prev_*`` and the call's own columns.
        starts: Whether a row's link may start a chain (or extend one).
        extends: Whether a row's link may only extend a chain already started.
    """
    found: list[Chain] = []
    current: list[Attempt] = []
    last_row: Row | None = None
    for row in rows:
        joins = bool(current) and last_row is not None and last_row["run"] == row["run"]
        joins = joins and current[-1].id == row["prev_id"]
        if starts(row) or (joins and extends(row)):
            if not joins:
                _close(found, current, last_row)
                current = [Attempt.previous(row)]
            current.append(Attempt.current(row))
            last_row = row
            continue
        _close(found, current, last_row)
        current, last_row = [], None
    _close(found, current, last_row)
    return found


def _close(found: list[Chain], current: list[Attempt], row: Row | None) -> None:
    if len(current) >= 2 and row is not None:
        found.append(Chain(tuple(current), row))
