"""One rule for what an endpoint URL is, in code and in the published schema (rpc/urls.py)."""

from __future__ import annotations

import re

import pytest

from berrymq_django.rpc.client import RPCClient
from berrymq_django.rpc.urls import URL_PATTERN, url_problem

GOOD = [
    "http://127.0.0.1:8000/berrymq/rpc/",
    "https://b.example/berrymq/rpc/",
    "HTTP://B.EXAMPLE",
    "http://[::1]:8000/",
    "http://u:pw@b.example:1/",
    "http://b.example:65535/x?y#z",
]
BAD = [
    ("http://", "with a host"),
    ("http:///berrymq/rpc/", "with a host"),
    ("ftp://b.example/", "http(s) URL"),
    ("b.example/berrymq/rpc/", "http(s) URL"),
    ("http://[::1/", "is not a URL"),
    ("http://b.example:0/", "names port 0"),
    ("http://b.example:65536/", "names port 65536"),
    ("http://b.example:99999/", "names port 99999"),
    (None, "is not a string"),
    (8000, "is not a string"),
]


@pytest.mark.parametrize("url", GOOD)
def test_an_endpoint_address_has_no_problem(url: str) -> None:
    assert url_problem(url) is None


@pytest.mark.parametrize(("url", "said"), BAD)
def test_a_problem_says_what_is_wrong(url: object, said: str) -> None:
    problem = url_problem(url)
    assert problem is not None
    assert said in problem


@pytest.mark.parametrize("url", GOOD + [url for url, _ in BAD if isinstance(url, str)])
def test_the_published_pattern_agrees_with_the_code(url: str) -> None:
    assert bool(re.match(URL_PATTERN, url)) == (url_problem(url) is None)


@pytest.mark.parametrize(("url", "said"), [(url, said) for url, said in BAD if url is not None])
def test_a_client_refuses_a_url_it_could_not_call(url: str, said: str) -> None:
    with pytest.raises(ValueError, match=re.escape(said)):
        RPCClient(url)  # type: ignore[arg-type]  # the ints too: a caller's mistake


@pytest.mark.parametrize("key", ["cl\u00e9", "a key", "tab\there"])
def test_a_client_refuses_a_key_no_header_can_carry(key: str) -> None:
    """It used to raise UnicodeEncodeError from deep in httpx, at the first call."""
    with pytest.raises(ValueError, match="api_key must be printable ASCII") as raised:
        RPCClient("http://127.0.0.1:9/", key)
    assert key not in str(raised.value)
