"""Audio, image and video tokens against genai-prices' own extraction of the same real bodies.

genai-prices reports a modality's input count inclusive of its cache reads and writes
(``input_audio_tokens``, ``cache_audio_read_tokens``...) and its output count as such
(``output_image_tokens``). Converted to tokenomy's exclusive buckets, they must equal
``Usage.modalities`` for every body an adapter here reads; and the six buckets must be those the
same body gives with its modality details taken out (the modalities are "of which" counts).

One difference is deliberate: OpenRouter's chat usage counts ``prompt_tokens_details.video_tokens``,
which genai-prices' chat extractor does not read; tokenomy keeps it (it is part of the prompt
tokens, and the upstream cost OpenRouter reports bills it).

Real OTel spans (Langfuse's mapping tests) spell the modality counts in three ways; each is read.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Final

import pytest

from tests.usage.test_golden_genai_prices import dataset, theirs
from tests.usage.test_golden_otel import spans_by_line
from tokenomy.schema import MODALITIES, Quality
from tokenomy.usage import detect, extract, from_otel

pytestmark = pytest.mark.realdata

_MODAL_FIELDS: Final = frozenset(f"{m}_tokens" for m in MODALITIES) | {"cached_tokens_details"}
"""OpenAI-shaped detail fields that count modalities (taken out to get the text-only body)."""


def converted(gp: dict[str, int]) -> dict[str, int]:
    """genai-prices' modality fields as ``Usage.modalities`` keys (exclusive buckets, no zeros)."""
    out: dict[str, int] = {}
    for m in MODALITIES:
        read, written = gp.get(f"cache_{m}_read_tokens", 0), gp.get(f"cache_{m}_write_tokens", 0)
        out[f"input_uncached.{m}"] = gp.get(f"input_{m}_tokens", 0) - read - written
        out[f"cache_read.{m}"] = read
        out[f"output_visible.{m}"] = gp.get(f"output_{m}_tokens", 0)
    return {key: n for key, n in out.items() if n}


def has_modalities(gp: dict[str, int]) -> bool:
    return any(f"_{m}_" in key for key in gp for m in MODALITIES if not key.endswith("_tool_tokens"))


def unread_by_genai_prices(adapter: str, body: dict[str, Any], gp: dict[str, int]) -> dict[str, int]:
    """Counts genai-prices' matching extractor does not read (see the module docstring)."""
    if adapter != "openrouter.chat" or "input_video_tokens" in gp:
        return {}
    details = (body.get("usage") or {}).get("prompt_tokens_details") or {}
    video = details.get("video_tokens") or 0
    return {"input_uncached.video": video} if video else {}


def text_only(value: Any) -> Any:
    """``value`` with every modality detail taken out (Gemini's ``*TokensDetails``, OpenAI's fields)."""
    if isinstance(value, dict):
        return {
            k: text_only(v)
            for k, v in value.items()
            if not k.endswith("TokensDetails") and k not in _MODAL_FIELDS
        }
    if isinstance(value, list):
        return [text_only(v) for v in value]
    return value


def checked_rows() -> list[tuple[str, str, dict[str, Any], dict[str, int]]]:
    """(file, adapter, body, expected modalities) of every readable body with modality counts."""
    rows = []
    for row in dataset():
        body = {k: v for k, v in row["body"].items() if k != "file"}
        adapter = detect(body)
        gp = None if adapter is None else theirs(row, adapter)
        if adapter is None or gp is None:
            continue
        expected = {**converted(gp), **unread_by_genai_prices(adapter, body, gp)}
        if has_modalities(gp) or expected or extract(body).usage.modalities:
            rows.append((row["body"]["file"], adapter, body, expected))
    return rows


def test_modalities_match_genai_prices() -> None:
    seen: Counter[str] = Counter()
    problems: list[str] = []
    for file, adapter, body, expected in checked_rows():
        seen[adapter] += 1
        ours = dict(extract(body).usage.modalities)
        if ours != expected:
            problems.append(f"{file} [{adapter}] ours {ours} theirs {expected}")
    assert not problems, "\n".join(problems[:20])
    assert seen["gemini.generate_content"] >= 100, seen
    assert seen["openai.chat"] >= 2, seen
    assert seen["openrouter.chat"] >= 1, seen


def test_modalities_leave_the_buckets_as_they_were() -> None:
    checked = 0
    for file, _, body, _ in checked_rows():
        usage, text = extract(body).usage, extract(text_only(body)).usage
        assert text.modalities == {}, file
        assert (usage.buckets(), usage.input_total, usage.output_total) == (
            text.buckets(),
            text.input_total,
            text.output_total,
        ), file
        assert Quality.MODALITY_EXCEEDS_BUCKET not in usage.quality, file
        assert usage.quality == text.quality, file
        checked += 1
    assert checked >= 120


def test_a_gemini_document_cached_in_part() -> None:
    body = next(
        b
        for f, _, b, _ in checked_rows()
        if "test_multimodal_tool_return_matrix[direct-url_force_download-document-google_2_5]" in f
    )
    usage = extract(body).usage
    # 258 DOCUMENT tokens (billed as image) in the prompt, 172 of them among the 230 cached
    assert (usage.input_uncached, usage.cache_read) == (115, 230)
    assert usage.modalities == {"input_uncached.image": 86, "cache_read.image": 172}


# line of the Langfuse mapping test whose span is read -> the modalities its usage has
OTEL_SPANS: Final[dict[int, dict[str, int]]] = {
    # Pydantic AI details: 5 audio input tokens of which 2 cache reads, 7 audio output tokens
    2221: {"input_uncached.audio": 3, "cache_read.audio": 2, "output_visible.audio": 7},
    7674: {"output_visible.audio": 5},  # flat gen_ai.usage.output_audio_tokens
    7758: {"output_visible.audio": 5},  # OpenInference completion_details.audio, inside the visible 20
}


@pytest.mark.parametrize("line", sorted(OTEL_SPANS))
def test_real_otel_spans_spell_modalities_three_ways(line: int) -> None:
    [attrs] = [
        a for a in spans_by_line()[line] if any(k.startswith(("gen_ai.usage", "llm.token")) for k in a)
    ]
    usage = from_otel(attrs).usage
    assert usage.modalities == OTEL_SPANS[line]
    assert usage.ok
