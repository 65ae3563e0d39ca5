"""The collector client's errors: the collector's own message is shown whole (its advice at the end
included) unless a long value it repeats makes it huge, and a 404 for a wrong path is not taken for
a missing record."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cli.collector_support import answering
from tokenomy.cli.collector_client import (
    BadRequestError,
    CollectorClient,
    CollectorError,
    NotFoundError,
    shown_message,
)
from tokenomy.cli.main import main

DIMENSIONS = (
    "user, team, project, feature, intent, environment, agent, api_key_id, model, request_model, provider,"
    " session, tag:<key>"
)


def _error(status: int, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"status": status, "message": message}}


def test_a_message_longer_than_a_route_is_shown_whole_with_its_advice() -> None:
    # what a collector answers for a dimension it does not know (one a newer CLI has, say)
    message = (
        f"unknown dimension 'cost_center_of_the_owner' in query parameter where; use one of: {DIMENSIONS}"
    )
    assert len(message) > 200
    with (
        answering([_error(400, message)]) as (url, _),
        CollectorClient(url) as client,
        pytest.raises(BadRequestError) as refused,
    ):
        client.get("/api/v1/report", {"where": "cost_center_of_the_owner=x"})
    assert str(refused.value) == f"the collector at {url} answered 400 to GET /api/v1/report: {message}"
    assert refused.value.reason == message
    assert str(refused.value).endswith("session, tag:<key>")


def test_a_huge_message_shows_its_start_its_length_and_its_advice() -> None:
    path = "/" + "p" * 1_200
    message = f"no route {path}/api/v1/report; see /openapi.json for the routes"
    assert shown_message(message) == (
        f"{message[:200]}... ({len(message):,} characters); see /openapi.json for the routes"
    )
    # a message that is a repeated value only, or whose last clause is long, shows its start
    assert shown_message("y" * 5_000) == f"{'y' * 200}... (5,000 characters)"
    long_clause = "a" * 300 + "; " + "b" * 900
    assert shown_message(long_clause) == f"{'a' * 200}... (1,202 characters)"
    assert shown_message("short; advice") == "short; advice"


def test_a_404_for_a_route_the_collector_does_not_have_is_not_a_missing_record() -> None:
    wrong = _error(404, "no route /wrong/api/v1/sessions/s1; see /openapi.json for the routes")
    missing = _error(404, "nothing is stored for session 's1'")
    not_a_collector: tuple[int, dict[str, Any]] = (404, {"detail": "Not Found"})
    with answering([wrong, missing, not_a_collector]) as (url, _), CollectorClient(url) as client:
        with pytest.raises(CollectorError) as refused:
            client.get("/api/v1/sessions/s1")
        assert not isinstance(refused.value, NotFoundError)
        assert str(refused.value).endswith("; see /openapi.json for the routes")
        with pytest.raises(NotFoundError, match="nothing is stored for session 's1'"):
            client.get("/api/v1/sessions/s1")
        with pytest.raises(CollectorError) as other:
            client.get("/api/v1/sessions/s1")
        assert not isinstance(other.value, NotFoundError)
        assert '\'{"detail": "Not Found"}\'' in str(other.value)


def test_a_session_asked_of_a_wrong_url_names_the_url_not_the_session(
    capsys: pytest.CaptureFixture[str],
) -> None:
    answers = [_error(404, "no route /wrong/api/v1/sessions/s1; see /openapi.json for the routes")]
    with answering(answers) as (url, _):
        assert main(["session", "s1", "--server", url]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"error: the collector at {url} answered 404 to GET /api/v1/sessions/s1: no route "
        "/wrong/api/v1/sessions/s1; see /openapi.json for the routes\n"
    )
