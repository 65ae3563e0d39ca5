"""Answers an upstream compressed though the gateway asked for none: decoded on the side, for metering.

The gateway drops the client's ``Accept-Encoding``, so an upstream answers uncompressed and metering
reads it. One that compresses anyway (``Content-Encoding: gzip``) has its answer sent to the client
as it came, headers included (the client's HTTP library decodes it), and decoded here for metering:
gzip, deflate (zlib-wrapped, or raw as some servers send it) and br when a Brotli decoder (``brotli``
or ``brotlicffi``) is installed. An answer in an encoding not decoded here is not read: its call is
recorded with usage unknown.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any, Final

from tokenomy.compression import brotli_module
from tokenomy.gateway.upstream import Headers

_IDENTITY: Final = frozenset({b"", b"identity"})
_GZIP: Final = 16 + zlib.MAX_WBITS
_ZLIB_OR_GZIP: Final = 32 + zlib.MAX_WBITS
"""zlib's window bits that read a zlib or a gzip header, whichever comes."""


def encodings(headers: Headers) -> list[bytes]:
    """The answer's content codings, in the order they were applied (none: identity)."""
    found = [
        coding.strip().lower()
        for name, value in headers
        if name == b"content-encoding"
        for coding in value.split(b",")
    ]
    return [coding for coding in found if coding not in _IDENTITY]


class Decoder:
    """Decodes an answer's body piece by piece (a stream's chunks as they arrive).

    Raises:
        ValueError: On :meth:`feed`, when the bytes are not in the encoding they claim.
    """

    __slots__ = ("_steps",)

    def __init__(self, steps: list[Callable[[bytes], bytes]]) -> None:
        self._steps = steps

    def feed(self, data: bytes) -> bytes:
        """The decoded bytes ``data`` completes (a compressed stream may need more to give any)."""
        for step in self._steps:
            data = step(data)
        return data


def decoder(codings: list[bytes]) -> Decoder | None:
    """A decoder for ``codings`` (see :func:`encodings`), or None when one of them is not known here."""
    steps = []
    for coding in reversed(codings):  # the last coding applied is the first undone
        step = _step(coding)
        if step is None:
            return None
        steps.append(step)
    return Decoder(steps)


def decoded(body: bytes, codings: list[bytes]) -> bytes | None:
    """``body`` decoded from ``codings``, or None (an encoding not known here, or bytes not in it)."""
    found = decoder(codings)
    if found is None:
        return None
    try:
        return found.feed(body)
    except ValueError:
        return None


def _step(coding: bytes) -> Callable[[bytes], bytes] | None:
    if coding in (b"gzip", b"x-gzip"):
        return _Inflate(_GZIP).feed
    if coding == b"deflate":
        return _Inflate(_ZLIB_OR_GZIP, raw_fallback=True).feed
    if coding == b"br":
        brotli = brotli_module()
        if brotli is not None:
            return _Unbrotli(brotli).feed
    return None


class _Unbrotli:
    """A Brotli module's incremental decompression, its errors (``brotli.error``, which is no
    ``ValueError``) raised as the ``ValueError`` :class:`Decoder` promises."""

    __slots__ = ("_process",)

    def __init__(self, brotli: Any) -> None:
        found = brotli.Decompressor()
        self._process: Callable[[bytes], bytes] = getattr(found, "process", None) or found.decompress

    def feed(self, data: bytes) -> bytes:
        try:
            return self._process(data)
        except Exception as exc:  # the module's own error class, whatever its base
            raise ValueError(f"the body is not in its Content-Encoding ({exc!r})") from exc


class _Inflate:
    """zlib's incremental decompression; a ``deflate`` body without zlib's header is read raw."""

    __slots__ = ("_inflate", "_undecided")

    def __init__(self, wbits: int, *, raw_fallback: bool = False) -> None:
        self._inflate = zlib.decompressobj(wbits)
        self._undecided: bytes | None = b"" if raw_fallback else None
        """The bytes seen while zlib's two-byte header may still turn out not to be one."""

    def feed(self, data: bytes) -> bytes:
        try:
            out = self._inflate.decompress(data)
        except zlib.error as exc:
            if self._undecided is None:
                raise ValueError(f"the body is not in its Content-Encoding ({exc})") from exc
            seen, self._undecided = self._undecided + data, None
            self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
            return self.feed(seen)
        if self._undecided is not None:
            self._undecided += data
            if len(self._undecided) >= 2:  # zlib's header was read and taken
                self._undecided = None
        return out
