"""Per-request overrides read from ``X-Mock-*`` headers, so a test can force one exact case.

============================  ===========================================================
header                        effect
============================  ===========================================================
X-Mock-Output-Tokens          visible output tokens of this response
X-Mock-Reasoning-Tokens       reasoning / thinking tokens (even for a non-reasoning model)
X-Mock-Audio-Input-Tokens     of the input tokens, this many are audio (at most all of them)
X-Mock-Audio-Output-Tokens    of the visible output tokens, this many are audio
X-Mock-Latency-Ms             total latency (see :class:`~tokenomy.mockllm.config.Latency`)
X-Mock-TTFT-Ms                time to first token
X-Mock-Chunk-Delay-Ms         delay between stream frames that carry tokens
X-Mock-Error                  an HTTP status (``429``, ``500``...) or a fault: ``hangup``,
                              ``stall``, ``malformed``, ``cut``, ``stream_error``
X-Mock-Cut-After              frames a cut stream sends before hanging up
X-Mock-Stall-Ms               how long ``stall`` holds the connection
X-Mock-Tool-Call              ``1`` or a tool name: call a tool even under ``tool_choice: auto``
X-Mock-Cache                  ``off``: neither read nor write the prompt cache
============================  ===========================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tokenomy.mockllm.config import FAULTS


class HeaderError(ValueError):
    """An ``X-Mock-*`` header has a value the mock cannot use (answered with a 400)."""


@dataclass(frozen=True, slots=True)
class Overrides:
    """What the ``X-Mock-*`` headers of one request force; None means "use the config"."""

    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    audio_input_tokens: int = 0
    audio_output_tokens: int = 0
    latency_ms: float | None = None
    ttft_ms: float | None = None
    chunk_delay_ms: float | None = None
    error: int | str | None = None
    cut_after: int | None = None
    stall_ms: float | None = None
    tool_call: str | None = None
    cache: bool = True


NONE = Overrides()


def read(headers: Mapping[str, str]) -> Overrides:
    """The overrides in ``headers`` (names lower-cased).

    Raises:
        HeaderError: A header's value is not of the documented form.
    """
    if not any(name.startswith("x-mock-") for name in headers):
        return NONE
    return Overrides(
        output_tokens=_int(headers, "x-mock-output-tokens"),
        reasoning_tokens=_int(headers, "x-mock-reasoning-tokens"),
        audio_input_tokens=_int(headers, "x-mock-audio-input-tokens") or 0,
        audio_output_tokens=_int(headers, "x-mock-audio-output-tokens") or 0,
        latency_ms=_ms(headers, "x-mock-latency-ms"),
        ttft_ms=_ms(headers, "x-mock-ttft-ms"),
        chunk_delay_ms=_ms(headers, "x-mock-chunk-delay-ms"),
        error=_error(headers.get("x-mock-error")),
        cut_after=_int(headers, "x-mock-cut-after"),
        stall_ms=_ms(headers, "x-mock-stall-ms"),
        tool_call=headers.get("x-mock-tool-call") or None,
        cache=headers.get("x-mock-cache", "on").strip().lower() not in ("off", "0", "false", "no"),
    )


def _int(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise HeaderError(f"header {name} must be a whole number >= 0, got {value!r}") from None
    if number < 0:
        raise HeaderError(f"header {name} must be >= 0, got {number}")
    return number


def _ms(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise HeaderError(f"header {name} must be a number of milliseconds, got {value!r}") from None
    if not number >= 0:
        raise HeaderError(f"header {name} must be >= 0 ms, got {value!r}")
    return number


def _error(value: str | None) -> int | str | None:
    if value is None:
        return None
    value = value.strip().lower().replace("-", "_")
    if value.isdigit() and 400 <= int(value) <= 599:
        return int(value)
    if value in FAULTS:
        return value
    raise HeaderError(
        f"header x-mock-error must be an HTTP status 400-599 or one of {', '.join(FAULTS)}; got {value!r}"
    )
