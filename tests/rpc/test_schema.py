"""The schema rpc.discover publishes is the schema the endpoint enforces.

For every param of every method, each keyword of its published schema
(type, maxLength, minimum, exclusiveMinimum, maximum, pattern, anyOf,
items and the item's own keywords...) gets a value that breaks that keyword
alone; the endpoint must answer INVALID_PARAMS naming the param and the
bad value, before the method runs.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from berrymq_django.rpc.methods import PROCEDURES

from .helpers import INVALID_PARAMS, error, result, rpc

# Values that pass the published schema of each param (used for the params not under test).
GOOD: dict[str, Any] = {
    "token": "a-token",
    "ttl": 60,
    "identifier": "probe:x",
    "callback_identifier": "probe:back",
    "addr": "http://127.0.0.1:9/berrymq/rpc/",
    "args": [],
    "kwargs": {},
    "uid": None,
    "origin": None,
    "messages": [],
    "block": False,
    "timeout": 0,
}
GOOD_ITEM = {"id": "probe:x"}
# One value of each JSON type; an integer is a number too.
SAMPLES: dict[str, Any] = {
    "boolean": True,
    "integer": 7,
    "number": 3.5,
    "string": "text",
    "array": [],
    "object": {},
    "null": None,
}


def _types(schema: dict[str, Any]) -> set[str]:
    kinds = schema.get("type", [])
    kinds = {kinds} if isinstance(kinds, str) else set(kinds)
    if "number" in kinds:
        kinds.add("integer")
    for option in schema.get("anyOf", []):
        kinds |= _types(option)
    return kinds


def violations(schema: dict[str, Any]) -> list[tuple[str, Any]]:
    """Return (keyword, value) pairs, each value breaking that keyword of schema alone."""
    found: list[tuple[str, Any]] = []
    allowed = _types(schema)
    if allowed:
        kind = next(k for k in SAMPLES if k not in allowed and not (k == "integer" and allowed))
        found.append(("type" if "type" in schema else "anyOf", SAMPLES[kind]))
    for keyword, limit in schema.items():
        if keyword == "maxLength":
            found.append((keyword, "x" * (limit + 1)))
        elif keyword == "minLength" and limit > 0:
            found.append((keyword, ""))
        elif keyword == "minimum":
            found.append((keyword, limit - 1))
        elif keyword in ("exclusiveMinimum", "exclusiveMaximum"):
            found.append((keyword, limit))
        elif keyword == "maximum":
            found.append((keyword, limit + 1))
        elif keyword == "pattern":
            found.append((keyword, "not it\n"))
        elif keyword == "items":
            found.extend((f"items.{k}", [v]) for k, v in item_violations(limit))
        elif keyword == "maxItems":
            found.append((keyword, [valid_sample(schema.get("items", {}))] * (limit + 1)))
        elif keyword not in ("type", "anyOf", "default", "description"):
            raise AssertionError(f"no violation written for keyword {keyword!r}: add one")
    return found


def valid_sample(schema: dict[str, Any]) -> Any:
    """Return a value schema accepts (an object item, or a value of its first type)."""
    if "properties" in schema:
        return GOOD_ITEM
    return "x" if "string" in _types(schema) else SAMPLES[sorted(_types(schema))[0]]


def item_violations(schema: dict[str, Any]) -> list[tuple[str, Any]]:
    """Return (keyword, item) pairs for an array's items."""
    if "properties" not in schema:
        return violations(schema)
    found: list[tuple[str, Any]] = [("type", "not an object")]
    for name in schema.get("required", []):
        found.append((f"required.{name}", {k: v for k, v in GOOD_ITEM.items() if k != name}))
    for name, property_schema in schema.get("properties", {}).items():
        for keyword, value in violations(property_schema):
            found.append((f"{name}.{keyword}", {**GOOD_ITEM, name: value}))
    return found


CASES = [
    pytest.param(name, param.name, value, id=f"{name}-{param.name}-{keyword}")
    for name, proc in PROCEDURES.items()
    for param in proc.params
    for keyword, value in violations(param.published_schema)
]


def test_every_published_keyword_has_a_case():
    assert len(CASES) > 40
    keywords = {case.id.rsplit("-", 1)[1] for case in CASES}
    assert {"type", "maxLength", "exclusiveMinimum", "maximum", "minimum", "pattern"} <= keywords
    assert any(k.startswith("items.") for k in keywords)


@pytest.mark.parametrize(("method", "name", "value"), CASES)
def test_a_value_breaking_the_published_schema_is_refused_naming_it(
    client: Client, method: str, name: str, value: Any
):
    params = {p.name: GOOD[p.name] for p in PROCEDURES[method].params if p.required}
    params[name] = value

    err = error(rpc(client, method, params))

    assert err["code"] == INVALID_PARAMS, err
    assert name in err["message"], err
    shown = repr(value)[:20] if not isinstance(value, list) else ""
    assert shown[:10] in err["message"] or "characters long" in err["message"], err


def test_the_published_document_is_what_the_procedures_declare(client: Client):
    document = result(rpc(client, "rpc.discover", []))
    by_name = {method["name"]: method for method in document["methods"]}

    for name, proc in PROCEDURES.items():
        published = {p["name"]: p["schema"] for p in by_name[name]["params"]}
        assert published == {p.name: p.published_schema for p in proc.params}
        required = {p["name"] for p in by_name[name]["params"] if p["required"]}
        assert required == {p.name for p in proc.params if p.required}
