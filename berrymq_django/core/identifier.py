"""Identifiers: the "name[@namespace]:action" keys that name messages and filters.

========== ======== ========= ===========
Sample     Name     Action    Namespace
========== ======== ========= ===========
test:run   test     run       (default)
test:*     test     *         (default)
*:run      *        run       (default)
*:*        *        *         (default)
test       test     *         (default)
test@ns:go test     go        ns
========== ======== ========= ===========

A ``*`` on either side matches anything: a follower of ``"sample:test"``
receives ``twitter("*:test")`` and a follower of ``"*:test"`` receives
``twitter("sample:test")``. Namespaces never match across: a message without
``@`` reaches only followers without ``@``. A name starting with ``_`` is
local: such messages never leave the process.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

__all__ = ["WILDCARD", "Identifier", "parse_identifier"]

WILDCARD: Final = "*"

# Whitespace of any script can never appear; "@" and ":" are separators.
_WHITESPACE = re.compile(r"\s")


class Identifier:
    """A parsed, validated identifier; immutable and hashable by its canonical text."""

    __slots__ = ("action", "name", "namespace", "text")

    name: str
    action: str
    namespace: str | None
    text: str

    def __new__(cls, text: str | Identifier) -> Identifier:
        if isinstance(text, Identifier):
            return text
        return parse_identifier(text)

    @classmethod
    def _make(cls, name: str, action: str, namespace: str | None) -> Identifier:
        self = object.__new__(cls)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "action", action)
        object.__setattr__(self, "namespace", namespace)
        ns = f"@{namespace}" if namespace is not None else ""
        object.__setattr__(self, "text", f"{name}{ns}:{action}")
        return self

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError("Identifier is immutable")

    @property
    def is_local(self) -> bool:
        """True when messages with this identifier must never leave the process."""
        return self.name.startswith("_")

    @property
    def has_wildcard(self) -> bool:
        return self.name == WILDCARD or self.action == WILDCARD

    def matches(self, other: Identifier | str) -> bool:
        """Return whether self and other select each other ('*' on either side matches)."""
        if not isinstance(other, Identifier):
            other = parse_identifier(other)
        return (
            self.namespace == other.namespace
            and (self.name == other.name or WILDCARD in (self.name, other.name))
            and (self.action == other.action or WILDCARD in (self.action, other.action))
        )

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Identifier({self.text!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Identifier):
            return self.text == other.text
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.text)

    def __reduce__(self) -> tuple[type[Identifier], tuple[str]]:
        return (Identifier, (self.text,))


def _check_part(part: str, what: str, text: str) -> None:
    if not part:
        raise ValueError(f"Invalid berryMQ identifier {text!r}: the {what} is empty.")


@lru_cache(maxsize=4096)
def parse_identifier(text: str) -> Identifier:
    """Parse "name[@namespace][:action]" into an Identifier.

    Raise TypeError for a non-string and ValueError naming the text when it
    is malformed: empty, an empty part, whitespace, or more than one ':' or '@'.
    """
    if not isinstance(text, str):
        raise TypeError(
            f"A berryMQ identifier must be a str like 'name:action', not {type(text).__name__} "
            f"({text!r})."
        )
    if not text:
        raise ValueError("Invalid berryMQ identifier '': it is empty; use 'name:action'.")
    if _WHITESPACE.search(text):
        raise ValueError(f"Invalid berryMQ identifier {text!r}: it contains whitespace.")
    if text.count(":") > 1:
        raise ValueError(f"Invalid berryMQ identifier {text!r}: more than one ':'.")
    if text.count("@") > 1:
        raise ValueError(f"Invalid berryMQ identifier {text!r}: more than one '@'.")
    head, colon, action = text.partition(":")
    if colon:
        _check_part(action, "action after ':'", text)
        if "@" in action:
            raise ValueError(
                f"Invalid berryMQ identifier {text!r}: the namespace goes before ':' "
                "as in 'name@namespace:action'."
            )
    else:
        action = WILDCARD
    name, at, namespace = head.partition("@")
    _check_part(name, "name", text)
    if at:
        _check_part(namespace, "namespace after '@'", text)
    return Identifier._make(name, action, namespace if at else None)
