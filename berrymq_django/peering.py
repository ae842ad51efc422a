"""Connect this site to other berryMQ nodes: settings glue and the seed's Python API.

``BERRYMQ["PEERS"]`` configures links at start-up; the functions below make
them by hand, from scripts and shells, with the original berryMQ names::

    interconnect("http://127.0.0.1:8002/berrymq/rpc/", api_key=KEY)      # style 01
    connect_oneway("http://logs.example/berrymq/rpc/", api_key=KEY)     # style 02
    with connect_via_queue(URL, "task:*", api_key=KEY) as tasks:       # style 03
        message = tasks.get(timeout=30)
    send_message("app:log", "started")   # to the one-way peers only
    close_connection(URL)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, get_args

from django.core.exceptions import ImproperlyConfigured

from .conf import berrymq_settings
from .core.api import default_dispatcher
from .core.identifier import parse_identifier
from .core.message import Message
from .rpc.peers import LinkStyle, PeerConfig, PeerLink, Peers, RemoteQueue, peers_for

__all__ = [
    "close_connection",
    "configure_peers",
    "connect_oneway",
    "connect_via_queue",
    "interconnect",
    "peer_configs",
    "peers",
    "send_message",
]

_STYLES = tuple(s for s in get_args(LinkStyle) if s != "callback")

# BERRYMQ["PEERS"][name] keys -> PeerConfig fields.
_OPTION_FIELDS = {
    "URL": "url",
    "API_KEY": "api_key",
    "STYLE": "style",
    "FORWARD": "forward",
    "QUEUE": "queue",
    "TTL": "ttl",
    "BUFFER_SIZE": "buffer_size",
    "BATCH_SIZE": "batch_size",
    "FLUSH_INTERVAL": "flush_interval",
    "TIMEOUT": "timeout",
    "POLL_SECONDS": "poll_seconds",
}


def peers() -> Peers:
    """Return the links of the default dispatcher."""
    return peers_for(default_dispatcher)


def peer_configs(setting: Mapping[str, Any] | None = None) -> list[PeerConfig]:
    """Turn BERRYMQ["PEERS"] into PeerConfigs; raise ImproperlyConfigured naming a bad value."""
    if setting is None:
        setting = berrymq_settings.PEERS
    if not isinstance(setting, Mapping):
        raise ImproperlyConfigured(
            f"BERRYMQ setting 'PEERS' must be a dict of peer name -> options, not {setting!r}."
        )
    return [_peer_config(name, options) for name, options in setting.items()]


def _peer_config(name: str, options: Any) -> PeerConfig:
    where = f"BERRYMQ['PEERS'][{name!r}]"
    if not isinstance(options, Mapping):
        raise ImproperlyConfigured(f"{where} must be a dict of options, not {options!r}.")
    unknown = sorted(set(options) - set(_OPTION_FIELDS))
    if unknown:
        raise ImproperlyConfigured(
            f"{where} has unknown option(s) {', '.join(unknown)}; "
            f"valid ones are {', '.join(_OPTION_FIELDS)}."
        )
    fields = {_OPTION_FIELDS[key]: value for key, value in options.items()}
    url = fields.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ImproperlyConfigured(f"{where}['URL'] must be an http(s) URL, not {url!r}.")
    style = fields.setdefault("style", "interconnect")
    if style not in _STYLES:
        raise ImproperlyConfigured(
            f"{where}['STYLE'] must be one of {', '.join(_STYLES)}, not {style!r}."
        )
    if "forward" in fields:
        forward = fields["forward"]
        if isinstance(forward, str) or not isinstance(forward, Iterable):
            raise ImproperlyConfigured(
                f"{where}['FORWARD'] must be a list of identifiers, not {forward!r}."
            )
        try:
            fields["forward"] = tuple(parse_identifier(text) for text in forward)
        except (TypeError, ValueError) as exc:
            raise ImproperlyConfigured(f"{where}['FORWARD']: {exc}") from None
    if style == "queue":
        try:
            parse_identifier(fields.get("queue"))  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise ImproperlyConfigured(
                f"{where}['QUEUE'] must name the remote queue's identifier: {exc}"
            ) from None
    for key in ("ttl", "flush_interval", "timeout", "poll_seconds"):
        if key in fields and not _positive(fields[key]):
            raise ImproperlyConfigured(
                f"{where}[{key.upper()!r}] must be a positive number, not {fields[key]!r}."
            )
    for key in ("buffer_size", "batch_size"):
        if key in fields and not (_positive(fields[key]) and isinstance(fields[key], int)):
            raise ImproperlyConfigured(
                f"{where}[{key.upper()!r}] must be a positive integer, not {fields[key]!r}."
            )
    return PeerConfig(name=name, **fields)


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def configure_peers() -> None:
    """Build the configured links; they start on the first message or request."""
    peers().configure(peer_configs(), berrymq_settings.SELF_URL)


def _add(
    url: str,
    style: LinkStyle,
    ttl: float,
    api_key: str | None,
    forward: Iterable[str],
    name: str | None,
) -> PeerLink:
    config = PeerConfig(
        name=name or url,
        url=url,
        api_key=api_key,
        style=style,
        forward=tuple(parse_identifier(text) for text in forward),
        ttl=ttl,
    )
    registry = peers()
    registry.self_url = registry.self_url or berrymq_settings.SELF_URL
    link = registry.add(config)
    link.start()
    return link


def interconnect(
    url: str,
    ttl: float = 1000,
    api_key: str | None = None,
    *,
    forward: Iterable[str] = ("*:*",),
    name: str | None = None,
) -> PeerLink:
    """Exchange every non-local message with the site at url, both ways (style 01)."""
    return _add(url, "interconnect", ttl, api_key, forward, name)


def connect_oneway(
    url: str,
    ttl: float = 1000,
    api_key: str | None = None,
    *,
    forward: Iterable[str] = ("*:*",),
    name: str | None = None,
) -> PeerLink:
    """Send every non-local message matching forward to the site at url (style 02)."""
    return _add(url, "oneway", ttl, api_key, forward, name)


def connect_via_queue(
    url: str, identifier: str, ttl: float = 1000, api_key: str | None = None
) -> RemoteQueue:
    """Open a queue for identifier on the site at url and return it for pulling (style 03)."""
    return RemoteQueue(url, identifier, ttl, api_key)


def send_message(identifier: str, *args: Any, **kwargs: Any) -> Message:
    """Send a message to the one-way peers only, not to local followers."""
    parse_identifier(identifier)
    message = Message(identifier, args, kwargs, default_dispatcher.node_name)
    for link in peers().links():
        if link.config.style == "oneway":
            link.enqueue(message)
    return message


def close_connection(url: str | None = None) -> int:
    """Close the links to url (every link when None); return how many were closed."""
    registry = peers()
    names = [link.config.name for link in registry.links() if url is None or link.config.url == url]
    return sum(registry.remove(name) for name in names)
