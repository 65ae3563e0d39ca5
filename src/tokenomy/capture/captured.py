"""One captured call: the raw facts taken on the caller's path, turned into a Call on the sink's thread.

The caller's path only records references and clock readings into a :class:`Captured` (the
request body the SDK built, the response object or the stream's events, times, ids, the scope's
attribution, the process's content settings then in force). Everything that costs more (reading
the response as a wire body, extracting usage into exclusive buckets, counting the prompt's shape,
hashing prefixes, redacting content) runs in :meth:`Captured.build`, on the sink's thread
(:mod:`tokenomy.capture.build`, which is imported there, the first time, so that instrumenting a
client loads none of it).
"""

from __future__ import annotations

# The builder imports tiktoken, which imports this; importing it registers an exit hook, which
# Python refuses once it is shutting down, and a short script's first batch is built at exit.
import concurrent.futures.thread  # noqa: F401
import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from tokenomy.capture.client import ClientState
from tokenomy.capture.runtime import RUNTIME
from tokenomy.capture.sdk.base import ErrorInfo, Route
from tokenomy.schema import Attribution

if TYPE_CHECKING:
    from tokenomy.capture.budget import Ticket
    from tokenomy.schema import Call

DONE: Final = "done"
ABANDONED: Final = "abandoned"
FAILED: Final = "failed"
UNREAD: Final = "unread"
"""A raw response whose body the caller never read (or read past tokenomy, by ``iter_raw``): its
usage was never seen (tokenomy.capture.raw)."""
_KEYED: dict[str | None, Attribution] = {}
"""The attribution of a call made outside every scope, by the client's key hash (None: no key)."""
_KEYED_SIZE: Final = 256


class Captured:
    """The raw facts of one call (see the module docstring). Filled on the caller's path."""

    __slots__ = (
        "attribution",
        "body",
        "chunks",
        "client",
        "content",
        "end",
        "error",
        "items",
        "latency_ns",
        "parent_span_id",
        "read_up_to",
        "response",
        "route",
        "session_id",
        "span_id",
        "started_ns",
        "step",
        "t0",
        "ticket",
        "times",
        "trace_id",
        "ttft_ns",
    )

    def __init__(self, client: ClientState, route: Route, body: Mapping[str, Any] | None) -> None:
        self.client = client
        self.route = route
        self.body = body
        self.content = RUNTIME.content  # the process's content settings when the call was made
        self.attribution: Attribution | None = None  # None outside every scope: no object built per call
        self.session_id: str | None = None
        self.step: int | None = None
        self.trace_id = ""
        self.span_id = ""
        self.parent_span_id: str | None = None
        self.started_ns = 0
        self.t0 = 0
        self.latency_ns: int | None = None
        self.ttft_ns: int | None = None
        self.response: Any = None
        self.items: list[Any] | None = None
        self.times: list[int] | None = None  # each kept event's arrival time
        # a stream's chunks as its SDK or the caller read them, with their arrival times (read into
        # ``items`` and ``times`` on the sink's thread: tokenomy.capture.streams.stream_items)
        self.chunks: tuple[list[bytes], list[int]] | None = None
        # a stream kept as its bytes and cut short: the data text of the last event the SDK read ("": none)
        self.read_up_to: str | None = None
        self.end = DONE
        self.error: ErrorInfo | None = None
        self.ticket: Ticket | None = None

    def keyed_attribution(self) -> Attribution:
        """The scope's attribution (empty outside every scope) with the client's key hash added."""
        attribution, key = self.attribution, self.client.api_key_id
        if attribution is None:  # outside every scope: one shared object per key (it is immutable)
            found = _KEYED.get(key)
            if found is None:
                if len(_KEYED) >= _KEYED_SIZE:
                    _KEYED.clear()
                found = _KEYED[key] = Attribution(api_key_id=key)
            return found
        if attribution.api_key_id is None and key is not None:
            attribution = dataclasses.replace(attribution, api_key_id=key)
        return attribution

    def settled(self) -> Captured | Call:
        """Itself, or, when it carries a budget ticket, its Call built now so the ticket settles at
        once (on the caller's path: the next call must not find this one's reservation still held)."""
        return self if self.ticket is None else self.build()

    def build(self) -> Call:
        """The Call these facts describe (runs on the sink's thread); settles its budget ticket."""
        from tokenomy.capture.build import build_call  # noqa: PLC0415  (heavy: loaded by the sink's thread)

        if self.chunks is not None:  # a raw stream's bytes: split into its events' data text
            from tokenomy.capture.streams import stream_items  # noqa: PLC0415

            stream_items(self)
        ticket = self.ticket
        try:
            call = build_call(self)
        except BaseException:
            if ticket is not None:
                ticket.settle(None)
            raise
        if ticket is not None:
            ticket.settle(call)
        return call
