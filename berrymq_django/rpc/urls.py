"""Addresses as the user writes them: one rule for what an endpoint URL is, one for showing it.

Every place that takes a URL from a person (SELF_URL, a PEERS entry, a
command's ``--url``, ``interconnect``'s address, the conformance kit) asks
:func:`url_problem`, so a mistake is named the same way everywhere and never
escapes as a parser's traceback. Every place that shows a URL (logs,
``status``, errors, the dashboard) shows :func:`shown_url`.
"""

from __future__ import annotations

import httpx

__all__ = ["URL_PATTERN", "shown_url", "url_problem"]

#: url_problem's rule as a JSON Schema pattern, for the published params: http(s),
#: user information, a host (a name, IPv4 or [IPv6]), a port from 1 to 65535, a path.
URL_PATTERN = (
    r"^[hH][tT][tT][pP][sS]?://([^/?#@\s]*@)?([^/?#@\[\]:\s]+|\[[0-9A-Fa-f:.]+\])"
    r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?"
    r"([/?#]\S*)?$"
)

_EXAMPLE = "e.g. http://127.0.0.1:8000/berrymq/rpc/"


def url_problem(url: object) -> str | None:
    """Say what keeps url from being an http(s) endpoint address; None when it is one.

    The text is parsed as httpx, the client that will call it, parses it. An
    address needs the scheme http or https, a host, and a port (when given)
    from 1 to 65535. The answer completes a sentence that starts with the
    value: ``f"{url!r} {problem}"``.
    """
    if not isinstance(url, str):
        return f"is not a string: give an http(s) URL, {_EXAMPLE}"
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        return f"is not a URL ({exc}): give an http(s) URL, {_EXAMPLE}"
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return f"is not an http(s) URL with a host, {_EXAMPLE}"
    if parsed.port is not None and not 0 < parsed.port < 65536:
        return f"names port {parsed.port}: ports go from 1 to 65535"
    return None


def shown_url(url: str) -> str:
    """Return url with its password, if any, replaced by "***": for errors, logs, status.

    Works on any text, parsable or not (a malformed URL is shown as written,
    its password hidden all the same): the user information is what precedes
    the last "@" before the path, as RFC 3986 reads it.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    end = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    netloc, tail = rest[:end], rest[end:]
    userinfo, at, host = netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.partition(':')[0]}:***@{host}{tail}"
