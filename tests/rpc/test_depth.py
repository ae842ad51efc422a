"""MAX_DEPTH is measured on the body's text: the same figure as walking the parsed value.

``protocol._json_depth`` counts nesting with C string methods rather than a
Python step per node (it runs on every batch). Generated JSON values, whose
strings hold brackets, quotes and backslashes, must give the depth a walk of
the value gives, capped at limit + 1, however they are written.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from berrymq_django.rpc.protocol import _json_depth

# Strings made mostly of what could fool a text count: brackets, quotes, escapes.
_tricky = st.text(alphabet='[]{}"\\/:,ab \n\u2028\u00e9', max_size=8)
_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _tricky,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_tricky, inner, max_size=4),
    max_leaves=40,
)


def _walk(value: Any, limit: int) -> int:
    """The nesting depth of value, the plain way, capped at limit + 1."""
    if not isinstance(value, list | dict):
        return 0
    children = value.values() if isinstance(value, dict) else value
    return min(limit + 1, 1 + max((_walk(c, limit) for c in children), default=0))


@settings(max_examples=500, deadline=None)
@given(value=_values, limit=st.sampled_from([1, 2, 3, 5, 32]))
def test_text_depth_is_the_depth_of_the_value(value: Any, limit: int):
    expected = _walk(value, limit)
    for text in (
        orjson.dumps(value),
        orjson.dumps(value, option=orjson.OPT_INDENT_2),
        json.dumps(value, ensure_ascii=True).encode(),  # \uXXXX escapes, \" and \\
    ):
        assert _json_depth(text, limit) == expected, text


def test_brackets_inside_strings_do_not_count():
    body = b'["[[[[", {"k]": "\\"[\\\\"}, "\\\\\\"{{"]'
    assert json.loads(body) == ["[[[[", {"k]": '"[\\'}, '\\"{{']
    assert _json_depth(body, 32) == 2


def test_counting_stops_past_the_limit():
    assert _json_depth(b"[" * 500 + b"]" * 500, 10) == 11
