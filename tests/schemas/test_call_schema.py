from __future__ import annotations

import json
from importlib import resources
from typing import Any

from tests.store.factories import charge, full_call
from tokenomy.native import USAGE_KEYS, call_to_native, charge_to_native
from tokenomy.schema import COST_PARTS, Kind, Quality, Status


def _schema() -> dict[str, Any]:
    text = resources.files("tokenomy").joinpath("schemas/call.schema.json").read_text(encoding="utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        return _resolve(schema, schema["$defs"][node["$ref"].rsplit("/", 1)[1]])
    if "anyOf" in node:
        return _resolve(schema, next(n for n in node["anyOf"] if n.get("type") != "null"))
    return node


def _undeclared(schema: dict[str, Any], node: dict[str, Any], value: Any, where: str) -> list[str]:
    node = _resolve(schema, node)
    missing: list[str] = []
    if isinstance(value, dict) and "properties" in node:
        for key, item in value.items():
            if key not in node["properties"]:
                missing.append(f"{where}.{key}")
            else:
                missing += _undeclared(schema, node["properties"][key], item, f"{where}.{key}")
    return missing


def test_every_field_export_writes_is_declared() -> None:
    schema = _schema()
    call = call_to_native(full_call())
    assert _undeclared(schema, schema["$defs"]["call"], call, "call") == []
    assert _undeclared(schema, schema["$defs"]["charge"], charge_to_native(charge()), "charge") == []


def test_enums_and_parts_match_the_records() -> None:
    defs = _schema()["$defs"]
    assert defs["call"]["properties"]["status"]["enum"] == [s.value for s in Status]
    assert defs["usage"]["properties"]["kind"]["enum"] == [k.value for k in Kind]
    assert defs["usage"]["properties"]["quality"]["items"]["enum"] == [q.value for q in Quality]
    assert defs["cost"]["properties"]["parts"]["propertyNames"]["enum"] == list(COST_PARTS)
    assert defs["call"]["required"] == ["id"]
    assert defs["charge"]["required"] == ["type", "id", "amount", "at"]


def test_usage_takes_exactly_the_keys_the_readers_accept() -> None:
    usage = _schema()["$defs"]["usage"]
    assert usage["additionalProperties"] is False
    assert set(usage["properties"]) == USAGE_KEYS


def test_the_schema_bounds_exactly_the_token_counts_the_reader_bounds() -> None:
    """The reader refuses a token count above MAX_TOKENS; the schema says so of the same fields."""
    from tokenomy.native import TOKEN_FIELDS
    from tokenomy.schema import BUCKETS, MAX_TOKENS

    schema = _schema()
    assert _resolve(schema, {"$ref": "#/$defs/tokens"})["maximum"] == MAX_TOKENS
    call = schema["$defs"]["call"]["properties"]
    usage = schema["$defs"]["usage"]["properties"]
    bounded = {n for n, node in call.items() if node.get("$ref") == "#/$defs/tokens"}
    bounded |= {f"usage.{n}" for n, node in usage.items() if node.get("$ref") == "#/$defs/tokens"}
    assert bounded == {*TOKEN_FIELDS, *(f"usage.{n}" for n in (*BUCKETS, "input_total", "output_total"))}
    assert call["max_output_tokens"] == {"$ref": "#/$defs/count"}  # a cap asked for, any 64-bit number


def test_the_schema_takes_exactly_the_currencies_the_readers_take() -> None:
    """A cost or a charge in another currency than USD is refused (it would be summed as dollars)."""
    import re

    from tokenomy.schema import not_usd

    defs = _schema()["$defs"]
    for node in (defs["cost"]["properties"]["currency"], defs["charge"]["properties"]["currency"]):
        pattern = re.compile(node["pattern"])
        for currency in ("", "USD", "usd", "Usd", "EUR", "US", "USDT", " USD"):
            assert (pattern.search(currency) is not None) == (not_usd(currency) is None), currency
