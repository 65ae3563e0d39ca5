"""What an adapter is: a named reader for one provider's API surface, with an optional stream reader.

Each provider module builds one :class:`Adapter` (or two, when the provider has two surfaces)
and the registry lists them; nothing outside the registry chooses an adapter by provider name.
A stream reader is a :class:`StreamAccumulator`: it is fed decoded event objects one at a
time, keeps only what it needs (usage, ids, text fragments, tool-call fragments) and, at the
end, rebuilds the provider's non-streamed body so that the adapter's own ``extract`` reads it.
Streams and bodies therefore follow the same conventions by construction.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Final, Protocol

from tokenomy.usage.base import Extracted, is_mapping

Extractor = Callable[[Mapping[str, Any]], Extracted]
"""Reads one response body."""

Matcher = Callable[[Mapping[str, Any]], bool]
"""Says whether a body (or a stream event) has the shape an adapter reads."""


class StreamAccumulator(Protocol):
    """Reads a stream one decoded event at a time."""

    def feed(self, event: Mapping[str, Any]) -> None:
        """Take one event; cheap, and never raises on an odd event."""

    def result(self) -> Extracted | None:
        """What the stream reported so far, or None when nothing usable arrived."""


StreamFactory = Callable[[Extractor], StreamAccumulator]
"""Makes a fresh accumulator that hands its rebuilt body to the given extractor."""


@dataclass(frozen=True, slots=True)
class Adapter:
    """One provider API surface.

    Attributes:
        name: Registry key, ``<provider family>.<api>`` (``openai.chat``, ``anthropic.messages``).
        provider: Canonical provider id the usage is billed by (``openai``, ``google``, ``aws``).
        api: The API surface (``chat``, ``responses``, ``messages``, ``generate_content``...).
        matches: True when a body has this surface's shape.
        extract: Reads a body.
        stream: Makes a stream accumulator, or None when the surface does not stream.
        matches_event: True when a stream's first event belongs to this surface; None when the
            surface's streams are recognised through another adapter of the same family.
        expects: What a body of this surface looks like, for error messages.
    """

    name: str
    provider: str
    api: str
    matches: Matcher
    extract: Extractor
    stream: StreamFactory | None = None
    matches_event: Matcher | None = None
    expects: str = ""


class EventAccumulator(ABC):
    """Base for the stream accumulators: counts events and shields the caller from odd ones.

    Subclasses implement :meth:`_feed` and :meth:`result`. The gateway feeds live traffic, so a
    malformed event must never break the response being relayed: :meth:`feed` counts an event
    whose shape the subclass could not read as odd and carries on.
    """

    __slots__ = ("events", "odd_events")

    def __init__(self) -> None:
        self.events = 0
        self.odd_events = 0

    def feed(self, event: object) -> None:
        """Take one decoded event (see the class docstring); a non-mapping is counted as odd."""
        self.events += 1
        if not is_mapping(event):
            self.odd_events += 1
            return
        try:
            self._feed(event)
        except (AttributeError, TypeError, ValueError, KeyError, IndexError):
            # Provider events are untrusted input; a shape we did not foresee is skipped, counted.
            self.odd_events += 1

    @abstractmethod
    def _feed(self, event: Mapping[str, Any]) -> None:
        """Read one event of the subclass's API into the running state."""

    @abstractmethod
    def result(self) -> Extracted | None:
        """What the stream reported so far, or None when nothing usable arrived."""

    def finish(self, extracted: Extracted, *, complete: bool) -> Extracted:
        """``extracted`` with the facts every stream result carries added to its ``extra``.

        ``complete`` says whether the stream's terminal event (the one carrying final usage)
        arrived; a gateway settling a cut stream counts the rest locally when it is False.
        """
        facts = {"streamed": True, "complete": complete, "events": self.events, "odd_events": self.odd_events}
        if not _EXTRA_LAST:
            return dataclasses.replace(extracted, extra={**extracted.extra, **facts})
        # built from its fields in order, rather than by dataclasses.replace (twice the cost)
        values = list(_EXTRACTED_FIELDS(extracted))
        values[-1] = {**extracted.extra, **facts}
        return Extracted(*values)


_NAMES: Final = tuple(f.name for f in dataclasses.fields(Extracted))
_EXTRACTED_FIELDS: Final = attrgetter(*_NAMES)
_EXTRA_LAST: Final = _NAMES[-1] == "extra" and all(f.init for f in dataclasses.fields(Extracted))
"""Whether an Extracted is made from its fields in order, ``extra`` last (:meth:`EventAccumulator.finish`)."""
