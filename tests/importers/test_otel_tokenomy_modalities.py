"""Audio, image and video tokens on the capture SDK's OTLP spans: the conventions' sums, and exact counts.

``gen_ai.usage.{audio,image,video}.input_tokens`` are subsets of ``gen_ai.usage.input_tokens``,
which includes the cache, so they sum every input bucket; only the
``tokenomy.usage.modality.<bucket>.<modality>`` attributes say which bucket held them, and only
those are read back.
"""

from __future__ import annotations

from dataclasses import replace

from tests.importers.test_otel_tokenomy import _call, _spans
from tokenomy.importers import ImportOptions, calls_from_spans
from tokenomy.importers.otlp_decode import Span
from tokenomy.schema import Quality, Usage

AUDIO_CALL = Usage.of(
    input_uncached=900,
    cache_read=2000,
    cache_write_5m=300,
    cache_write_1h=0,
    output_visible=140,
    reasoning=7,
    modalities={
        "input_uncached.audio": 600,
        "input_uncached.image": 85,
        "cache_read.audio": 1500,
        "cache_write_5m.video": 120,
        "output_visible.audio": 100,
    },
)


def _usage_attributes(span: Span) -> dict[str, object]:
    return {k: v for k, v in span.attributes.items() if ".usage." in k}


def test_modalities_travel_as_convention_sums_and_exact_counts() -> None:
    (span,) = _spans([_call(1, usage=AUDIO_CALL)])
    attrs = _usage_attributes(span)
    assert attrs["gen_ai.usage.input_tokens"] == 3200
    assert attrs["gen_ai.usage.audio.input_tokens"] == 2100  # 600 uncached + 1500 read from the cache
    assert attrs["gen_ai.usage.image.input_tokens"] == 85
    assert attrs["gen_ai.usage.video.input_tokens"] == 120
    assert attrs["gen_ai.usage.audio.output_tokens"] == 100
    exact = {k: v for k, v in attrs.items() if k.startswith("tokenomy.usage.modality.")}
    assert exact == {
        "tokenomy.usage.modality.cache_read.audio": 1500,
        "tokenomy.usage.modality.cache_write_5m.video": 120,
        "tokenomy.usage.modality.input_uncached.audio": 600,
        "tokenomy.usage.modality.input_uncached.image": 85,
        "tokenomy.usage.modality.output_visible.audio": 100,
    }


def test_a_call_with_modalities_reads_back_with_the_same_usage() -> None:
    (back,) = calls_from_spans(_spans([_call(1, usage=AUDIO_CALL)]), ImportOptions())
    assert back.usage == AUDIO_CALL
    assert back.usage.modal_tokens("input_uncached") == {"audio": 600, "image": 85}
    assert back.usage.modal_tokens("cache_read") == {"audio": 1500}


def test_a_text_only_call_carries_no_modality_attribute() -> None:
    text_only = Usage.of(input_uncached=900, cache_read=2000, output_visible=140)
    (span,) = _spans([_call(1, usage=text_only)])
    names = set(_usage_attributes(span))
    assert not {n for n in names if ".audio." in n or ".image." in n or ".video." in n or "modality" in n}
    (back,) = calls_from_spans([span], ImportOptions())
    assert back.usage.modalities == {}


def test_an_image_output_has_no_convention_name_but_travels_exactly() -> None:
    images = Usage.of(input_uncached=20, output_visible=1290, modalities={"output_visible.image": 1290})
    (span,) = _spans([_call(1, usage=images)])
    attrs = _usage_attributes(span)
    assert "gen_ai.usage.audio.output_tokens" not in attrs
    assert not any(k.startswith("gen_ai.usage.image.") for k in attrs)
    (back,) = calls_from_spans([span], ImportOptions())
    assert back.usage.modal_tokens("output_visible") == {"image": 1290}


def test_a_flag_on_counts_above_their_bucket_travels_with_them() -> None:
    over = Usage.of(input_uncached=10, output_visible=5, modalities={"input_uncached.audio": 40})
    assert over.quality == (Quality.MODALITY_EXCEEDS_BUCKET,)
    (back,) = calls_from_spans(_spans([_call(1, usage=over)]), ImportOptions())
    assert back.usage == over


def test_modality_attributes_tokenomy_does_not_know_are_left_out() -> None:
    (span,) = _spans([_call(1, usage=AUDIO_CALL)])
    attrs = dict(span.attributes)
    attrs["tokenomy.usage.modality.reasoning.audio"] = 5  # reasoning is text
    attrs["tokenomy.usage.modality.input_uncached.smell"] = 5
    attrs["tokenomy.usage.modality.output_visible.image"] = "12"  # not a whole number
    attrs["tokenomy.usage.modality.cache_write_1h.audio"] = 0
    attrs["tokenomy.usage.modality.cache_write_5m.image"] = True
    (back,) = calls_from_spans([replace(span, attributes=attrs)], ImportOptions())
    assert back.usage.modalities == AUDIO_CALL.modalities
