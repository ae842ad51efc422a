"""Connect this site to other berryMQ nodes: settings glue and the seed's Python API.

``BERRYMQ["PEERS"]`` configures links at start-up; the functions below make
them by hand, from scripts and shells, with the original berryMQ names::

    interconnect("http://127.0.0.1:8002/berrymq/rpc/", api_key=KEY)      # style 01
    connect_oneway("http://logs.example/berrymq/rpc/", api_key=KEY)     # style 02
    with connect_via_queue(URL, "task:*", api_key=KEY) as tasks:       # style 03
        message = tasks.get(timeout=30)
    send_message("app:log", "started")   # to the one-way peers only
    close_connection(URL)
    send_to(URL, "order:created", [42], api_key=KEY)   # one message, now
    probe_peers()                        # is each configured peer up, and takes our key?
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast, get_args

from django.core.exceptions import ImproperlyConfigured

from .conf import berrymq_settings
from .core.api import default_dispatcher
from .core.identifier import parse_identifier
from .core.lifecycle import lifecycle
from .core.message import Message
from .rpc.client import (
    DEFAULT_TIMEOUT,
    PeerError,
    PeerUnavailable,
    RemoteError,
    RemoteQueue,
    RPCClient,
    Unauthorized,
    header_safe,
    shown_url,
)
from .rpc.peers import LinkStyle, PeerConfig, PeerLink, Peers
from .rpc.protocol import FORBIDDEN
from .rpc.urls import url_problem

if TYPE_CHECKING:
    from .rpc.connections import ConnectionState

__all__ = [
    "close_connection",
    "configure_peers",
    "connect_oneway",
    "connect_via_queue",
    "connection_state",
    "interconnect",
    "peer_configs",
    "peers",
    "probe_peers",
    "send_message",
    "send_to",
    "site_status",
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
    "MAX_BACKOFF": "max_backoff",
}


_registry: Peers | None = None
_registry_lock = threading.Lock()


def connection_state() -> ConnectionState:
    """Return the JSON-RPC session state of the site's backend (``backend.connection_state``).

    Raise ImproperlyConfigured when the configured BACKEND keeps none.
    """
    backend = default_dispatcher.backend
    state = getattr(backend, "connection_state", None)
    if state is None:
        raise ImproperlyConfigured(
            f"BERRYMQ setting 'BACKEND': {type(backend).__qualname__} has no connection_state; "
            "the JSON-RPC endpoint and peering keep their connections there."
        )
    return cast("ConnectionState", state)


def peers() -> Peers:
    """Return the site's peer links: one registry, which the process lifecycle starts and stops."""
    global _registry
    registry = _registry
    if registry is None:
        with _registry_lock:
            if _registry is None:
                _registry = Peers(default_dispatcher, connection_state())
                lifecycle.add(_registry)
            registry = _registry
    state = connection_state()
    if registry.state is not state:  # the backend was replaced: new links use the new one
        registry.state = state
    return registry


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
    api_key = fields.get("api_key")
    if api_key is not None and not (isinstance(api_key, str) and api_key and header_safe(api_key)):
        # The key travels in an HTTP header: printable ASCII without spaces. The value
        # itself is never echoed, it is a secret.
        got = "a string that is not" if isinstance(api_key, str) else repr(api_key)
        raise ImproperlyConfigured(
            f"{where}['API_KEY'] must be the key string the peer knows us by: printable "
            f"ASCII without spaces, not {got}."
        )
    problem = url_problem(url := fields.get("url"))
    if problem:
        shown = shown_url(url) if isinstance(url, str) else url
        raise ImproperlyConfigured(f"{where}['URL'] {shown!r} {problem}.")
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
            parse_identifier(fields.get("queue"))
        except (TypeError, ValueError) as exc:
            raise ImproperlyConfigured(
                f"{where}['QUEUE'] must name the remote queue's identifier: {exc}"
            ) from None
    for key in ("ttl", "flush_interval", "timeout", "poll_seconds", "max_backoff"):
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
    """Build the configured links; they run once the site has started (``core.lifecycle``)."""
    configs = peer_configs()
    self_url = berrymq_settings.SELF_URL
    for config in configs:
        if config.style == "interconnect" and not self_url:
            raise ImproperlyConfigured(
                f"BERRYMQ['PEERS'][{config.name!r}] is interconnected, so the peer must call "
                "us back: set BERRYMQ 'SELF_URL' to this site's endpoint URL "
                '(e.g. "http://127.0.0.1:8001/berrymq/rpc/").'
            )
    peers().configure(configs, self_url, connection_state())


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
    if style == "interconnect" and not registry.self_url:
        raise ImproperlyConfigured(
            f"interconnect({url!r}) needs BERRYMQ 'SELF_URL', the URL the peer calls us back on."
        )
    link = registry.add(config)
    assert isinstance(link, PeerLink)  # style interconnect or oneway: a sender
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
    url: str,
    identifier: str,
    ttl: float = 1000,
    api_key: str | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> RemoteQueue:
    """Open a queue for identifier on the site at url and return it for pulling (style 03).

    ``timeout`` (seconds) bounds each exchange with the site, however slowly
    it answers; a get may wait its own timeout on top (see RemoteQueue.get).
    """
    return RemoteQueue(url, identifier, ttl, api_key, timeout=timeout)


def send_message(identifier: str, *args: Any, **kwargs: Any) -> Message:
    """Send a message to the one-way peers only, not to local followers."""
    parse_identifier(identifier)
    message = Message(identifier, args, kwargs, default_dispatcher.node_name)
    for link in peers().links():
        if isinstance(link, PeerLink) and link.config.style == "oneway":
            link.enqueue(message)
            link.start()  # asked for now, even where the site's links do not run (a shell)
    return message


def close_connection(url: str | None = None) -> int:
    """Close the links to url (every link when None); return how many were closed."""
    registry = peers()
    names = [link.config.name for link in registry.links() if url is None or link.config.url == url]
    return sum(registry.remove(name) for name in names)


def send_to(
    url: str,
    identifier: str,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    api_key: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Message:
    """Send one message to the site at url now, over a one-way connection closed after it.

    ``timeout`` (seconds) bounds the whole exchange, however slowly the site
    answers. Raise ValueError for a bad or local identifier and a PeerError
    when the site cannot be reached or does not answer in time
    (PeerUnavailable), refuses the key (Unauthorized) or the message
    (RemoteError). The receiving site stamps the origin ("rpc:<our key's name>").
    """
    if parse_identifier(identifier).is_local:
        raise ValueError(f"{identifier!r} is local (its name starts with '_'): it never leaves.")
    message = Message(identifier, tuple(args), dict(kwargs or {}), "")
    deadline = time.monotonic() + timeout

    def left() -> float:
        return max(0.001, deadline - time.monotonic())

    with RPCClient(url, api_key, timeout=timeout) as client:
        token = client.call("connect_oneway", max(60.0, timeout), timeout=left())
        try:
            client.call(
                "send_message",
                token,
                identifier,
                list(args),
                dict(kwargs or {}),
                message.uid,
                timeout=left(),
            )
        finally:
            with contextlib.suppress(PeerError):  # else it expires by itself
                client.call("close_connection", token, timeout=min(left(), 2.0))
    return message


def probe_peers(
    configs: Iterable[PeerConfig] | None = None, *, timeout: float = 5.0
) -> list[dict[str, Any]]:
    """Call each peer's status with our key; report reachable, round trip, key accepted.

    Takes the peers to probe (default: BERRYMQ["PEERS"]) and returns one dict
    per peer: name, url, style, reachable, rtt_ms, key_accepted, error, and the
    peer's own status figures when it gave them.
    """
    reports = []
    for config in peer_configs() if configs is None else configs:
        report: dict[str, Any] = {
            "name": config.name,
            "url": shown_url(config.url),
            "style": config.style,
            "reachable": False,
            "rtt_ms": None,
            "key_accepted": None,
            "error": None,
            "status": None,
        }
        with RPCClient(config.url, config.api_key, timeout=timeout) as client:
            started = time.perf_counter()
            try:
                report["status"] = client.call("status")
                report["reachable"] = report["key_accepted"] = True
            except PeerUnavailable as exc:
                report["error"] = str(exc)
            except RemoteError as exc:
                # An answer at all means the site is up; a 401/403 or FORBIDDEN refuses us.
                report["reachable"] = True
                refused = isinstance(exc, Unauthorized) or exc.code == FORBIDDEN
                report["key_accepted"] = False if refused else None
                report["error"] = exc.message
            if report["reachable"]:
                report["rtt_ms"] = (time.perf_counter() - started) * 1000
        reports.append(report)
    return reports


def site_status(url: str, api_key: str | None = None, *, timeout: float = 5.0) -> dict[str, Any]:
    """Return the status figures of the site at url (its links to peers under "peers")."""
    with RPCClient(url, api_key, timeout=timeout) as client:
        status: dict[str, Any] = client.call("status")
        return status
