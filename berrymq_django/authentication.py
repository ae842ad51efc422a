"""Authenticate JSON-RPC callers by API key: ``Authorization: Bearer <key>``.

Keys live in ``BERRYMQ["API_KEYS"] = {"site-b": "<key>", ...}``; the name
becomes the caller's principal, which owns the tokens it creates. Clients
that cannot set a header (berryMQ 0.3's, which rides on Python's xmlrpc
transport) put the name and key in the URL instead, ``http://site-b:<key>@host/``,
and arrive with HTTP Basic: a Basic header whose user is a key's name is
checked against that key; any other Basic header is left to other
authenticators.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from .conf import berrymq_settings
from .peering import connection_state
from .rpc.peers import CALLBACK_PRINCIPAL_PREFIX

__all__ = ["APIKeyAuthentication", "APIKeyClient"]

# A second Authorization header, as servers join repeated headers (RFC 9110, 5.3).
_REPEATED = re.compile(r",\s*(?:bearer|basic)\b", re.IGNORECASE)


class APIKeyClient:
    """The user object of a request authenticated by API key."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, principal: str) -> None:
        self.principal = principal
        self.username = principal
        # DRF's user throttles key on pk; keep key holders apart from real users.
        self.pk = self.id = f"berrymq-key:{principal}"

    def __str__(self) -> str:
        return self.principal

    def __repr__(self) -> str:
        return f"<APIKeyClient {self.principal!r}>"


class APIKeyAuthentication(authentication.BaseAuthentication):
    """Accept ``Authorization: Bearer <key>`` for a key in BERRYMQ["API_KEYS"]."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[APIKeyClient, str] | None:
        header = request.META.get("HTTP_AUTHORIZATION")
        if header and _REPEATED.search(header):
            raise exceptions.AuthenticationFailed(
                "Invalid Authorization header: it was sent more than once (the server joins "
                "repeated headers with ','); send it once."
            )
        key = self.bearer(header)
        if key is None:
            principal = self.basic_principal(header)
            if principal is None:
                return None  # no header, or not ours: leave it to the other authenticators
            return APIKeyClient(principal), principal
        if not key:
            raise exceptions.AuthenticationFailed(
                "Invalid Authorization header: no key after Bearer."
            )
        principal = self.principal_for(key) or self.peer_for(key)
        if principal is None:
            raise exceptions.AuthenticationFailed("Invalid API key.")
        return APIKeyClient(principal), principal

    @classmethod
    def bearer(cls, header: str | None) -> str | None:
        """Return the key of a "Bearer <key>" header ("" if empty); None for anything else."""
        if not header:
            return None
        scheme, _, key = header.partition(" ")
        return key.strip() if scheme.lower() == cls.keyword.lower() else None

    @classmethod
    def principal_from_header(cls, header: str | None) -> str | None:
        """Return the principal of a Bearer (or Basic name:key) Authorization header, if valid."""
        key = cls.bearer(header)
        if key is None:
            try:
                return cls.basic_principal(header)
            except exceptions.AuthenticationFailed:
                return None
        return cls.principal_for(key) if key else None

    @staticmethod
    def basic_principal(header: str | None) -> str | None:
        """Return the name of a "Basic base64(name:key)" header whose name has an API key.

        None when the header is not Basic or names no key holder (another
        authenticator may know the user); AuthenticationFailed when it names
        a key holder with the wrong key.
        """
        scheme, _, encoded = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            credentials = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        name, colon, key = credentials.partition(":")
        expected = berrymq_settings.API_KEYS.get(name) if colon else None
        if expected is None:
            return None
        if not hmac.compare_digest(key.encode(), str(expected).encode()):
            raise exceptions.AuthenticationFailed(f"Invalid API key for {name!r}.")
        return name

    @staticmethod
    def principal_for(key: str) -> str | None:
        """Return the name whose key this is; compare every key in constant time."""
        found = None
        given = key.encode()
        for name, expected in berrymq_settings.API_KEYS.items():
            # No early exit: the time taken must not tell which key nearly matched.
            if hmac.compare_digest(given, str(expected).encode()):
                found = name
        return found

    @staticmethod
    def peer_for(token: str) -> str | None:
        """Return the peer whose interconnect callback token this is.

        An interconnected peer calls us back with the token we gave it: that
        token is its credential, good for as long as the connection lives.
        """
        connection = connection_state().get_connection(token)
        if connection is None or not connection.principal.startswith(CALLBACK_PRINCIPAL_PREFIX):
            return None
        return connection.principal

    def authenticate_header(self, request: Any) -> str:
        return f'{self.keyword} realm="berrymq"'
