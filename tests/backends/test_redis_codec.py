"""The messages' JSON form in Redis (backends/redis/codec.py); no Redis needed.

A stream entry's lines are parsed in one go when they are what encode()
wrote, and line by line otherwise, so a malformed entry is refused with the
same error either way and never read as other messages.
"""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from berrymq_django.backends.redis.codec import decode, decode_batch, encode, from_fields
from berrymq_django.core.message import Message


def _messages() -> list[Message]:
    return [
        Message("order:created", (1, "two", (3, 4)), {"k": [5]}, "node-a"),
        Message("order:paid", (), None, "node-b", uid="u-1", timestamp=1.5),
        Message("order:talk", ("q",), None, "node-a", reply_to="order:answer"),
    ]


def test_encode_writes_what_to_dict_gives():
    for message in _messages():
        assert orjson.loads(encode(message)) == orjson.loads(orjson.dumps(message.to_dict()))
    assert orjson.loads(encode(Message("a:b", (Decimal("1.5"),), None, "n")))["args"] == ["1.5"]


def test_a_batch_of_lines_decodes_to_the_messages_encoded():
    sent = _messages()
    lines = b"\n".join(encode(message) for message in sent)
    got = [from_fields(fields) for fields in decode_batch(lines)]
    assert [m.to_dict() for m in got] == [orjson.loads(encode(m)) for m in sent]
    assert decode(encode(sent[1])).uid == "u-1"


@pytest.mark.parametrize(
    "entry",
    [b'{"id": "a:b"}\n1, 2', b'{"id": "a:b"}\n{"id": "c:d"', b"1, 2, 3", b'{"id": "a:b"} 4'],
)
def test_a_malformed_line_is_refused_not_read_as_other_values(entry: bytes):
    with pytest.raises(orjson.JSONDecodeError):
        decode_batch(entry)


def test_empty_lines_are_skipped():
    assert decode_batch(b'{"a": 1}\n\n{"b": 2}\n') == [{"a": 1}, {"b": 2}]
    assert decode_batch(b"") == []
