"""The one writer: requests grouped into store transactions, acknowledged only once durable.

Every accepted request hands its :class:`~tokenomy.server.payloads.Payload` to the writer and
waits. The writer takes whatever has queued (waiting ``linger_ms`` for more when little has),
writes it to the store in one transaction on its own thread, and then answers each waiting
request. Calls are priced on that thread too, as columns, from rates kept per price key
(:mod:`tokenomy.server.call_costs`), so the store inserts them as they are; calls that need the
store's own pricing go to it. A payload is *durable* when that transaction has committed, or,
when the store cannot take it (not open, locked by another process, failing), once its rows (not
its body: see :mod:`tokenomy.server.payloads`) have been appended to the spool and fsync'd, in one
frame with the rest of its group. A spooled frame that no longer reads is kept in the spool's
``bad/`` folder, never skipped. While the spool holds anything, new payloads go behind it, so the
store receives everything in arrival order; the spool is replayed at start and then whenever the
store answers again (retries back off up to a minute). When even the spool cannot be written, the
request fails with 503 and the client keeps its data and retries.

A redaction hook (``tokenomy serve --redact``) runs here too, on the writer's thread, never on the
event loop: a slow hook delays the writes, and so the answers, rather than every request the
loop reads. It rewrites a group's text before the group goes to the store or to the spool
(:func:`~tokenomy.server.payloads.redacted`), so no text the hook has not seen reaches the disk.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, TypeVar

from tokenomy.errors import PayloadError, StoreLockedError, TokenomyError
from tokenomy.server.call_costs import ColumnPricer
from tokenomy.server.payloads import Payload, batch_of, payload_count, redacted, spool_frames
from tokenomy.server.spool import Frame, Spool
from tokenomy.store.base import PricerLike, Store
from tokenomy.store.events import EventBatch

if TYPE_CHECKING:
    from tokenomy.capture.redaction import CheckedRedact

log = logging.getLogger("tokenomy.server")

Durable = Literal["store", "spool"]
T = TypeVar("T")
FIRST_RETRY_S: Final = 0.5
MAX_RETRY_S: Final = 60.0


class BusyError(TokenomyError):
    """The writer's queue is full: answer 503 and let the client retry."""


class NotDurableError(TokenomyError):
    """Neither the store nor the spool could take a payload: answer 503, nothing was acknowledged."""


@dataclass(slots=True)
class WriterStats:
    """Counters for the health route (payload counts, never their content)."""

    stored_batches: int = 0
    stored_payloads: int = 0
    spooled_payloads: int = 0
    replayed_payloads: int = 0
    failed_payloads: int = 0
    last_error: str | None = None
    store_up: bool = False


@dataclass(slots=True)
class _Waiting:
    payload: Payload
    future: asyncio.Future[Durable]


@dataclass(slots=True)
class _Retry:
    first: float = FIRST_RETRY_S
    at: float = 0.0
    delay: float = FIRST_RETRY_S

    def failed(self, now: float) -> None:
        self.at = now + self.delay
        self.delay = min(self.delay * 2, MAX_RETRY_S)

    def succeeded(self) -> None:
        self.at, self.delay = 0.0, self.first


class Writer:
    """Owns the store and the spool; see the module docstring. Start it on the server's event loop."""

    def __init__(
        self,
        open_store: Callable[[], Store],
        spool: Spool,
        pricer: PricerLike,
        *,
        linger_ms: float = 2.0,
        batch_rows: int = 50_000,
        queue: int = 1024,
        capture_content: bool = False,
        redact: CheckedRedact | None = None,
        first_retry_s: float = FIRST_RETRY_S,
    ) -> None:
        self._open_store = open_store
        self.spool = spool
        self._pricer = pricer
        self._columns = ColumnPricer(pricer)
        self._linger = linger_ms / 1000
        self._batch_rows = batch_rows
        self._queue_max = queue
        self._capture_content = capture_content
        self._redact = redact if capture_content else None  # no text is kept for it to see otherwise
        self.store: Store | None = None
        self.stats = WriterStats()
        self._retry = _Retry(first_retry_s, 0.0, first_retry_s)
        self._waiting: deque[_Waiting] = deque()
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tokenomy-writer")
        self._replayed = 0  # payloads stored by the replay in progress (a frame may hold several)

    @property
    def depth(self) -> int:
        """Payloads waiting for the writer."""
        return len(self._waiting)

    async def start(self) -> None:
        """Open the store (or note why it cannot be opened yet) and start writing."""
        await self._in_thread(self._ensure_store)
        self._task = asyncio.create_task(self._run(), name="tokenomy-writer")

    async def stop(self) -> None:
        """Write what is queued, then close the store."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
        await self._in_thread(self._close)
        self._thread.shutdown(wait=True)

    async def submit(self, payload: Payload) -> Durable:
        """Queue a payload and wait until it is durable.

        Returns:
            Where it is durable: ``"store"`` or ``"spool"``.

        Raises:
            BusyError: Too many payloads are waiting already.
            NotDurableError: Neither the store nor the spool could take it.
        """
        if len(self._waiting) >= self._queue_max or self._stopping:
            raise BusyError(
                f"the collector has {len(self._waiting)} requests waiting to be written; retry shortly"
            )
        future: asyncio.Future[Durable] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(payload, future))
        self._wake.set()
        return await future

    # -- the loop ------------------------------------------------------------------------------

    async def _run(self) -> None:
        await self._in_thread(self._recover)
        while True:
            if not self._waiting:
                if self._stopping:
                    return
                await self._idle()
                continue
            group = await self._gather()
            try:
                where = await self._in_thread(self._commit, [w.payload for w in group])
            except NotDurableError as exc:
                for waiting in group:
                    if not waiting.future.done():
                        waiting.future.set_exception(exc)
                continue
            for waiting in group:
                if not waiting.future.done():
                    waiting.future.set_result(where)

    async def _idle(self) -> None:
        """Sleep until a payload arrives, or until the next retry of the spool or the store."""
        self._wake.clear()
        timeout = None
        if self.spool.pending() or self.store is None:
            timeout = max(self._retry.at - time.monotonic(), 0.05)
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            await self._in_thread(self._recover)

    async def _gather(self) -> list[_Waiting]:
        """The payloads queued now, plus those arriving within ``linger_ms`` while the batch is small."""
        group = self._take()
        rows = sum(w.payload.rows for w in group)
        if self._linger > 0 and rows < self._batch_rows and not self._stopping:
            await asyncio.sleep(self._linger)
            more = self._take(self._batch_rows - rows)
            group.extend(more)
        return group

    def _take(self, rows: int | None = None) -> list[_Waiting]:
        limit = self._batch_rows if rows is None else rows
        taken: list[_Waiting] = []
        total = 0
        while self._waiting and (not taken or total + self._waiting[0].payload.rows <= limit):
            item = self._waiting.popleft()
            taken.append(item)
            total += item.payload.rows
        return taken

    async def _in_thread(self, func: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, func, *args)

    # -- on the writer's thread ----------------------------------------------------------------

    def _commit(self, payloads: list[Payload]) -> Durable:
        payloads = self._redacted(payloads)
        if self._ensure_store() and not self.spool.pending():
            try:
                self._write(EventBatch.concat([p.batch for p in payloads]))
            except Exception as exc:  # anything the store raises: keep the data in the spool instead
                self._store_failed(exc)
            else:
                self.stats.stored_batches += 1
                self.stats.stored_payloads += len(payloads)
                return "store"
        try:
            self.spool.append(spool_frames(payloads, redacted=self._redact is not None))
        except Exception as exc:  # the disk refused (OSError), or rows that would not encode
            self.stats.failed_payloads += len(payloads)
            reason = (exc.strerror if isinstance(exc, OSError) else None) or f"{type(exc).__name__}: {exc}"
            self.stats.last_error = f"the spool cannot be written: {reason}"
            log.error("tokenomy server: %s", self.stats.last_error)
            raise NotDurableError(
                "the store cannot take the events right now and the spool cannot be written "
                f"({reason}); nothing was kept: retry later"
            ) from exc
        self.stats.spooled_payloads += len(payloads)
        self._recover()
        return "spool"

    def _redacted(self, payloads: list[Payload]) -> list[Payload]:
        """The payloads with their text through the hook (a hook's failure is the call's, handled by
        the hook's wrapper); a failure of the rewrite itself keeps nothing, rather than the text."""
        if self._redact is None:
            return payloads
        try:
            return [Payload(redacted(p.batch, self._redact)) for p in payloads]
        except Exception as exc:
            self.stats.failed_payloads += len(payloads)
            log.exception("tokenomy server: the text of %d requests could not be redacted", len(payloads))
            raise NotDurableError(
                f"the collector could not put the text through its redaction hook ({type(exc).__name__}); "
                "nothing was kept: retry later"
            ) from exc

    def _ensure_store(self) -> bool:
        """True when the store is open, opening it when a retry is due."""
        if self.store is not None:
            return True
        if time.monotonic() < self._retry.at:
            return False
        try:
            self.store = self._open_store()
        except Exception as exc:  # a lock held by another process, a bad file, a full disk...
            self._store_failed(exc)
            return False
        self._retry.succeeded()
        self.stats.store_up = True
        log.info("tokenomy server: the store is open")
        return True

    def _recover(self) -> None:
        """Replay the spool into the store, oldest segment first, while the store takes it."""
        while self.spool.pending() and time.monotonic() >= self._retry.at and self._ensure_store():
            self._replayed = 0
            try:
                self.spool.replay(self._store_frames)
            except Exception as exc:  # the segment stays; the next try replays it again
                self._store_failed(exc)
                return
            self.stats.replayed_payloads += self._replayed
            self._retry.succeeded()

    def _store_frames(self, frames: list[Frame]) -> str | None:
        """Store the rows of the frames that read, in one transaction; say which did not (their
        segment is then kept in ``bad/`` by the spool: acknowledged rows are never dropped)."""
        batches: list[EventBatch] = []
        unread: list[str] = []
        count = 0
        for number, frame in enumerate(frames, 1):
            try:
                batches.append(batch_of(frame, capture_content=self._capture_content, redact=self._redact))
            except PayloadError as exc:  # rows of another version, say: kept for a person or a later version
                unread.append(f"frame {number} (kind {frame.kind.decode(errors='replace')}): {exc.message}")
                continue
            count += payload_count(frame)
        if batches:
            self._write(EventBatch.concat(batches))
        self._replayed = count
        if not unread:
            return None
        note = f"{len(unread)} of {len(frames)} frames do not read and are kept here: " + "; ".join(unread)
        log.error("tokenomy server: a spool segment %s", note)
        return note

    def _write(self, batch: EventBatch) -> None:
        """One transaction: calls priced here as columns when they can be (see server/call_costs.py),
        else by the store."""
        assert self.store is not None  # callers made sure it is open
        try:
            priced = self._columns.price(batch.calls)
        except Exception:  # an unexpected shape: the store's general path prices it (and reports it)
            log.debug("tokenomy server: calls left to the store's pricing", exc_info=True)
            priced = None
        if priced is None:
            self.store.write_events(batch, pricer=self._pricer)
        else:
            self.store.write_priced_events(dataclasses.replace(batch, calls=priced))

    def _store_failed(self, exc: BaseException) -> None:
        if isinstance(exc, StoreLockedError):  # its advice is for readers of a collector's file, not for us
            what = "reads" if exc.reading else "writes"
            message = f"StoreLockedError: {exc.path} is held by {exc.holder}, which {what} it"
        else:
            message = f"{type(exc).__name__}: {exc}"
        if message != self.stats.last_error:
            log.warning("tokenomy server: the store cannot take events now (%s); spooling them", message)
        self.stats.last_error = message
        self._retry.failed(time.monotonic())
        if self.store is not None and _lost_connection(exc):
            self._close()

    def _close(self) -> None:
        if self.store is not None:
            try:
                self.store.close()
            finally:
                self.store = None
                self.stats.store_up = False


def _lost_connection(exc: BaseException) -> bool:
    """True when the store's connection itself is unusable (it is reopened on the next retry)."""
    text = str(exc).lower()
    return "connection" in text and ("closed" in text or "invalidated" in text)
