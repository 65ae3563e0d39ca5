"""What a collector does not take is not lost without a word: a batch over its size limit (413) is sent
in parts, and the spans an OTLP collector rejects in a 2xx answer are logged."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.capture.support import Collector, call, sink_with
from tokenomy.capture.log import RateLimitedLog
from tokenomy.capture.records import Record
from tokenomy.capture.sink import targets
from tokenomy.capture.sink.poster import TooLargeError
from tokenomy.capture.sink.target import PartlyRefusedError
from tokenomy.capture.sink.targets import EventsTarget, OtlpTarget, send_in_parts
from tokenomy.errors import SinkError
from tokenomy.schema import Call, Content

pytestmark = pytest.mark.integration

TEXT = "word " * 2_000  # about 10 kB of captured prompt


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def fresh_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees the first message (the log says each kind at most once a minute)."""
    monkeypatch.setattr(targets, "_LOG", RateLimitedLog())


def _chatty(number: int, text: str = TEXT) -> Call:
    return call(number, content=Content(prompt=text, completion="ok"))


def _ids(collector: Collector) -> list[str]:
    return [json.loads(line)["id"] for body in collector.bodies("/v1/events") for line in body.splitlines()]


def test_a_batch_over_the_limit_reaches_the_collector_in_ordered_parts(collector: Collector) -> None:
    """Before, the 413 refused the whole batch: 20 calls counted as rejected and set aside."""
    collector.max_body = 50_000  # about 4 of these calls a request
    sink = sink_with(EventsTarget(collector.url), batch_size=20)
    for number in range(20):
        sink.submit(_chatty(number))
    assert sink.flush(30) is True
    stats = sink.stats()
    assert (stats.sent, stats.rejected, stats.dropped) == (20, 0, 0)
    assert _ids(collector) == [f"c{n:05d}" for n in range(20)]
    assert len(collector.bodies("/v1/events")) >= 5  # in parts, each under the limit
    lines = [json.loads(line) for body in collector.bodies("/v1/events") for line in body.splitlines()]
    assert all(line["content"]["prompt"] == TEXT for line in lines)  # every text kept
    sink.shutdown(5)


def test_a_single_call_over_the_limit_is_sent_without_its_content_and_logged(
    collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    collector.max_body = 5_000
    with caplog.at_level(logging.WARNING, logger="tokenomy.capture"):
        EventsTarget(collector.url).send([call(1), _chatty(2), call(3)])
    lines = [json.loads(line) for body in collector.bodies("/v1/events") for line in body.splitlines()]
    assert [line["id"] for line in lines] == ["c00001", "c00002", "c00003"]
    assert "content" not in lines[1]
    assert lines[1]["usage"] == lines[0]["usage"]  # its metering kept whole
    assert "call c00002 with its captured content is over the collector's size limit" in caplog.text
    assert "word" not in caplog.text


def test_what_is_over_the_limit_even_without_content_is_refused_alone(collector: Collector) -> None:
    collector.max_body = 10
    with pytest.raises(PartlyRefusedError) as refused:
        EventsTarget(collector.url).send([call(1), call(2)])
    assert refused.value.retryable is False
    assert [r.id for r in refused.value.refused if isinstance(r, Call)] == ["c00001", "c00002"]
    assert collector.bodies("/v1/events") == []


def test_a_record_too_large_in_the_middle_leaves_the_others_sent() -> None:
    """It aborted the whole split before: the parts after it were never sent, and the sink set
    aside the batch whole, the parts already stored included."""
    sent: list[list[str]] = []

    def post(records: Sequence[Record]) -> None:
        ids = [r.id for r in records if isinstance(r, Call)]
        if len(records) > 1 or ids == ["c00001"]:
            raise TooLargeError("answered 413")
        sent.append(ids)

    with pytest.raises(PartlyRefusedError) as refused:
        send_in_parts(post, [call(n) for n in range(4)])
    assert sent == [["c00000"], ["c00002"], ["c00003"]]
    assert [r.id for r in refused.value.refused if isinstance(r, Call)] == ["c00001"]


def test_the_sink_sets_aside_only_the_refused_record(tmp_path: Path, collector: Collector) -> None:
    collector.max_body = (
        2_000  # a small call's body fits; one with a 5 kB model name does not, content or not
    )
    sink = sink_with(EventsTarget(collector.url), tmp_path)
    try:
        for n in range(3):
            sink.submit(call(n))
        sink.submit(call(99, request_model="m" * 5_000))
        assert sink.flush(10) is False  # one record was refused
        stats = sink.stats()
    finally:
        sink.shutdown(5)
    assert (stats.sent, stats.rejected) == (3, 1)
    assert sorted(_ids(collector)) == ["c00000", "c00001", "c00002"]
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".bad")] != []  # the refused one, kept


def test_other_failures_of_a_part_raise_as_they_did() -> None:
    sent: list[list[str]] = []

    def post(records: Sequence[Record]) -> None:
        if len(records) > 2:
            raise TooLargeError("answered 413")
        ids = [r.id for r in records if isinstance(r, Call)]
        if ids[0] == "c00002":
            raise SinkError("down")  # retryable: the sink sends the whole batch again later
        sent.append(ids)

    with pytest.raises(SinkError, match="down") as failed:
        send_in_parts(post, [call(n) for n in range(4)])
    assert failed.value.retryable is True
    assert sent == [["c00000", "c00001"]]


def test_the_otlp_target_sends_its_parts_too(collector: Collector) -> None:
    collector.max_body = 30_000
    OtlpTarget(collector.url).send([_chatty(n) for n in range(8)])
    bodies = collector.bodies("/v1/traces")
    assert len(bodies) > 1
    names = []
    for body in bodies:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                for span in scope.spans:
                    attributes = {a.key: a.value.string_value for a in span.attributes}
                    names.append(attributes["tokenomy.call.id"])
    assert names == [f"c{n:05d}" for n in range(8)]


def test_spans_an_otlp_collector_rejects_in_a_2xx_answer_are_logged(
    collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    """Before, the answer's ``partial_success`` was never read: the rejected spans went unnoticed."""
    response = ExportTraceServiceResponse()
    response.partial_success.rejected_spans = 2
    response.partial_success.error_message = "span 1: bad attribute"
    collector.answer = response.SerializeToString()
    with caplog.at_level(logging.WARNING, logger="tokenomy.capture"):
        OtlpTarget(collector.url).send([call(1), call(2)])
    assert (
        f"{collector.url}/v1/traces rejected 2 span(s) of a batch it took: span 1: bad attribute"
        in caplog.text
    )


def test_a_2xx_answer_without_rejections_or_not_protobuf_logs_nothing(
    collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="tokenomy.capture"):
        collector.answer = ExportTraceServiceResponse().SerializeToString()
        OtlpTarget(collector.url).send([call(1)])
        collector.answer = b'{"partialSuccess": {}}'
        OtlpTarget(collector.url).send([call(2)])
    assert caplog.text == ""


@pytest.mark.parametrize("status", [401, 404])
def test_a_refused_token_or_path_keeps_the_batch_until_the_setting_is_fixed(
    status: int, collector: Collector, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A wrong token (or a proxy's 404 mid-deploy) set every batch aside as .bad, never sent again."""
    collector.status = status
    sink = sink_with(EventsTarget(collector.url), tmp_path / "spool")
    with caplog.at_level(logging.WARNING, logger="tokenomy.capture"):
        sink.submit(call(1))
        sink.submit(call(2))
        assert sink.flush(5) is False
    stats = sink.stats()
    assert (stats.spooled, stats.rejected) == (2, 0)
    assert not list((tmp_path / "spool").glob("*.bad"))
    (message,) = [r.getMessage() for r in caplog.records if f"answered {status}" in r.getMessage()]
    assert ("TOKENOMY_SERVER_TOKEN" in message) == (status == 401)
    collector.status = 200
    assert sink.flush() is True
    assert _ids(collector) == ["c00001", "c00002"]
    assert (sink.stats().replayed, sink.stats().rejected) == (2, 0)


def test_a_403_sets_its_batch_aside_and_the_next_ones_go_through(
    collector: Collector, tmp_path: Path
) -> None:
    """A firewall answers 403 for one payload: retried, that batch would hold every later one behind it."""
    collector.status = 403
    sink = sink_with(EventsTarget(collector.url), tmp_path / "spool")
    sink.submit(call(1))
    assert sink.flush(5) is False
    assert (sink.stats().rejected, sink.stats().spooled) == (1, 0)
    assert len(list((tmp_path / "spool").glob("*.bad"))) == 1
    collector.status = 200
    sink.submit(call(2))
    assert sink.flush() is True
    assert _ids(collector) == ["c00002"]


SURROGATE_OVER_OTLP: str = """
import sys
from datetime import datetime
from decimal import Decimal
from google.protobuf.internal import api_implementation
from tokenomy.capture.sink.core import Sink
from tokenomy.capture.sink.settings import SinkSettings
from tokenomy.capture.sink.targets import OtlpTarget
from tokenomy.schema import Charge

cut = Charge(id="cut", amount=Decimal("0.01"), kind="tool", at=datetime(2026, 1, 1), description="x\\ud800y")
sink = Sink(OtlpTarget(sys.argv[1]), SinkSettings(spool_dir=sys.argv[2]))
sink.submit(cut)
print(api_implementation.Type(), sink.flush(30), sink.stats().rejected)
sink.shutdown(5)
"""
"""A charge cut mid-emoji sent by the OTLP target on pure-Python protobuf, which refuses the text
with a ValueError rather than a UnicodeEncodeError (the upb backend's)."""


def test_a_lone_surrogate_reaches_an_otlp_collector_on_pure_python_protobuf(
    collector: Collector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.capture.support import run_python

    monkeypatch.setenv("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")
    done = run_python("-c", SURROGATE_OVER_OTLP, collector.url, str(tmp_path / "spool"))
    assert done.stdout.split() == ["python", "True", "0"]
    (body,) = collector.bodies("/v1/traces")
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    (span,) = [s for r in request.resource_spans for scope in r.scope_spans for s in scope.spans]
    described = {a.key: a.value.string_value for a in span.attributes}
    assert "x\ufffdy" in described.values()
