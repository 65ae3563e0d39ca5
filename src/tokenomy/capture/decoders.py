"""An async stream's chunks kept by its HTTP response's content decoder, not by one more iterator.

The SDKs read a stream's bytes from their HTTP client's ``aiter_bytes``, which passes every raw
chunk through the response's content decoder (``response._get_content_decoder()``, kept as
``response._decoder``: the identity decoder for an uncompressed stream, a generator a chunk). Set
in its place, :class:`KeptIdentity` keeps each chunk and its arrival time in one plain method call
and hands the chunk on as the identity decoder would, so the caller's thread runs no more per chunk
than a bare client does (an async iterator of tokenomy's, :class:`tokenomy.capture.streams.ChunkWatch`'s
``achunks``, added a coroutine a chunk: 7-11 us a 20-chunk stream, docs/benchmarks.md). A
compressed stream's decoder is wrapped (:class:`KeptDecoded`) and its decoded pieces kept. An HTTP
client without that decoder (or whose decoder cannot be made) gets the iterator instead.

The two HTTP clients the SDKs use differ in what a decoder gives out: ``httpx2``'s (the current
SDKs') give an iterator of pieces, ``httpx``'s (older SDK releases: openai 1.x and 2.x) the
decoded bytes themselves. The kept decoder gives out what the one it replaces does: the identity
decoder class is asked once, with no bytes, which it answers (:class:`KeptIdentityBytes` for
bytes), and a wrapped decoder's answer is handed on in its own form.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

Clock = Callable[[], int]
"""The clock arrival times are read on (``time.perf_counter_ns``, the watcher's)."""


class _Keeping:
    """What both identity decoders hold: where a chunk and its arrival time go, and the clock."""

    __slots__ = ("clock", "keep", "stamp")

    def __init__(self, keep: Callable[[bytes], Any], stamp: Callable[[int], Any], clock: Clock) -> None:
        self.keep, self.stamp, self.clock = keep, stamp, clock


class KeptIdentity(_Keeping):
    """An uncompressed stream's decoder: each chunk kept, with its arrival time, and handed on."""

    __slots__ = ()

    def decode(self, data: bytes) -> tuple[bytes, ...]:
        self.stamp(self.clock())
        self.keep(data)
        return (data,)

    def flush(self) -> tuple[bytes, ...]:
        return ()


class KeptIdentityBytes(_Keeping):
    """:class:`KeptIdentity` for an HTTP client whose decoders give out bytes (``httpx``)."""

    __slots__ = ()

    def decode(self, data: bytes) -> bytes:
        self.stamp(self.clock())
        self.keep(data)
        return data

    def flush(self) -> bytes:
        return b""


class KeptDecoded:
    """A compressed stream's decoder wrapped: each decoded piece kept, with the time it came."""

    __slots__ = ("clock", "inner", "keep", "stamp")

    def __init__(
        self, inner: Any, keep: Callable[[bytes], Any], stamp: Callable[[int], Any], clock: Clock
    ) -> None:
        self.inner, self.keep, self.stamp, self.clock = inner, keep, stamp, clock

    def decode(self, data: bytes) -> list[bytes] | bytes:
        return self._kept(self.inner.decode(data))

    def flush(self) -> list[bytes] | bytes:
        return self._kept(self.inner.flush())

    def _kept(self, pieces: Iterable[bytes] | bytes) -> list[bytes] | bytes:
        at = self.clock()
        if isinstance(pieces, bytes | bytearray):  # httpx's decoders: the decoded bytes themselves
            if pieces:
                self.stamp(at)
                self.keep(bytes(pieces))
            return pieces
        found = list(pieces)
        for piece in found:
            self.stamp(at)
            self.keep(piece)
        return found


def kept_by_decoder(
    response: Any, keep: Callable[[bytes], Any], stamp: Callable[[int], Any], clock: Clock
) -> bool:
    """Set a decoder that keeps the chunks on ``response``; False (nothing set) when its HTTP client
        reads no content decoder this way, its body was read already (it is then given out as it is, not
    decoded chunk by chunk), or its decoder cannot be made."""
    make = getattr(type(response), "_get_content_decoder", None)
    if not callable(make) or hasattr(response, "_content"):  # a body read already is not decoded again
        return False
    try:
        inner = make(response)  # made from the Content-Encoding header, and kept as response._decoder
    except Exception:  # an odd header: the iterator keeps the chunks instead
        return False
    if not callable(getattr(inner, "decode", None)) or not callable(getattr(inner, "flush", None)):
        return False
    if type(inner).__name__ != "IdentityDecoder":
        response._decoder = KeptDecoded(inner, keep, stamp, clock)
        return True
    kind = type(inner)
    kept = _KEPT.get(kind)
    if kept is None:
        try:  # asked once a class: httpx's gives bytes, httpx2's an iterator
            kept = _KEPT[kind] = KeptIdentityBytes if isinstance(inner.decode(b""), bytes) else KeptIdentity
        except Exception:  # an identity decoder that cannot take no bytes: the iterator keeps the chunks
            return False
    response._decoder = kept(keep, stamp, clock)
    return True


_KEPT: dict[type, type[KeptIdentity] | type[KeptIdentityBytes]] = {}
"""Per identity decoder class, the kept decoder that gives out what it does."""
