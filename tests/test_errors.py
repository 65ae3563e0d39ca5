"""Every error tokenomy raises survives pickling whole: a `multiprocessing` worker sends it to its parent."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from tokenomy.errors import (
    BudgetExceeded,
    ConfigError,
    ImportFileError,
    PayloadError,
    RecordError,
    StoreLockedError,
    TokenomyError,
    error_object_kind,
)


@pytest.mark.parametrize(
    "error",
    [
        ConfigError("no sink named x"),
        ImportFileError("a.jsonl", "not JSON"),
        RecordError("a.jsonl", 3, "usage.cache_read", "expected an integer"),
        PayloadError(413, "the body is larger than 10 MB"),
        BudgetExceeded("budget 'team' is spent", status=429),
        StoreLockedError(Path("t.duckdb"), advice="wait for it", pid=42, process="python3"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_an_error_comes_back_from_a_pickle_with_its_message_and_attributes(error: TokenomyError) -> None:
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert str(again) == str(error)
    assert again.__dict__ == error.__dict__


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ({"type": "rate_limit_error", "status": "RESOURCE_EXHAUSTED"}, "rate_limit_error"),
        ({"code": 429, "status": "RESOURCE_EXHAUSTED"}, "RESOURCE_EXHAUSTED"),
        ({"code": "rate_limit_exceeded", "status": 429}, None),  # a number is no name; codes are the caller's
        ({"type": "sk-test-MARKERKEY123", "status": "MARKERPROMPT42 said"}, None),
        ("not an object", None),
    ],
)
def test_an_error_objects_kind_is_its_type_else_its_named_status(error: object, kind: str | None) -> None:
    assert error_object_kind(error) == kind
