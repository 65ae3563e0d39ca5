"""``dump``: an SDK object as its wire dict, without pydantic's serializer warnings."""

from __future__ import annotations

import warnings
from typing import Any

import pydantic

from tokenomy.capture.sdk.base import dump


class _Text(pydantic.BaseModel):
    type: str = "text"
    text: str


class _Event(pydantic.BaseModel):
    item: _Text


def test_an_object_holding_an_unlisted_type_dumps_without_a_warning() -> None:
    # What an SDK does with a new item type: the object holds it, its field's annotation does not list it.
    event = _Event.model_construct(item={"type": "web_search_call", "id": "ws_1"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found = dump(event)
    assert found == {"item": {"type": "web_search_call", "id": "ws_1"}}


def test_a_model_dump_without_the_warnings_argument_is_still_read() -> None:
    class Old:
        def model_dump(self) -> dict[str, Any]:
            return {"id": "x"}

    assert dump(Old()) == {"id": "x"}
    assert dump({"id": "y"}) == {"id": "y"}
    assert dump(object()) == {}
