"""What a sink target is: something that takes a batch of records, or raises :class:`SinkError`.

Three targets exist (see :func:`tokenomy.capture.sink.settings.target_for`): the local DuckDB
store, a tokenomy server's native events endpoint, and an OTLP/HTTP traces endpoint. A target
is called from the sink's own thread only, one batch at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from tokenomy.capture.records import Record


class Target(Protocol):
    """Where a sink delivers its batches."""

    @property
    def description(self) -> str:
        """What the target is, for messages (never with credentials)."""
        ...

    def prepare(self, records: list[Record]) -> list[Record]:
        """Make a new batch ready before it is sent or spooled (the store and OTLP targets price calls)."""
        ...

    def send(self, records: Sequence[Record]) -> None:
        """Deliver a batch; return only once the target has it.

        Raises:
            SinkError: The target did not take it (``retryable`` says whether to try again).
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...

    def after_fork(self) -> None:
        """Forget connections inherited from the parent process (without closing them)."""
        ...


@runtime_checkable
class Idling(Protocol):
    """A target holding something costly between batches (the DuckDB file) that it can release."""

    def idle(self, *, now: bool = False) -> None:
        """Nothing waits to be sent: release what is costly to hold, at once when ``now``.

        Called after each cycle that left nothing waiting; ``now`` after an explicit flush.
        """
        ...
