"""The peer links of one site: configured peers, API-made ones and call-back links.

``Peers`` holds every ``PeerLink`` of a dispatcher by name and is the one
piece of background work the process lifecycle (``core.lifecycle``) owns
for peering: ``start()`` starts every link and the call-back sync thread
when the site starts, ``stop(deadline)`` flushes and stops them within one
deadline, ``after_fork()`` forgets the parent's threads and connections. A
link added while the registry runs starts at once.

The session state (``ConnectionState``) is handed in: the links open their
call-back connections there, and the sync thread reads its connections.

The registry is the dispatcher's one relay for peering (while it has a
link that sends). For each non-local message it picks the links whose
FORWARD wants it and whose peer does not have it yet, and tells each peer
who has it or is being sent it (the message's ``seen``): this site, every
peer it goes to now, and those the site that sent it here named. A peer
forwards a message to none of those, so in a full mesh a message crosses
each link once, not once per path, and it still travels along a chain.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import httpx

from .connections import Connection
from .link import CALLBACK_PRINCIPAL_PREFIX, BaseLink, LinkStyle, PeerConfig
from .protocol import limit_exceeded
from .puller import QueueLink
from .sender import Outgoing, PeerLink, wire_form

if TYPE_CHECKING:
    from ..core.dispatcher import Dispatcher
    from ..core.message import Message
    from .connections import ConnectionState

__all__ = [
    "CALLBACK_PRINCIPAL_PREFIX",
    "CALLBACK_SYNC_SECONDS",
    "BaseLink",
    "LinkStyle",
    "PeerConfig",
    "PeerLink",
    "Peers",
    "callback_name",
    "incoming",
    "wire_form",
]

logger = logging.getLogger("berrymq.peers")

#: How often the registry looks at the connections: to collect call-back links whose
#: connection expired and, on a shared backend, to call back peers that interconnected
#: through another process of the site.
CALLBACK_SYNC_SECONDS = 2.0
#: Most site names a message carries in its ``seen`` (as the endpoint accepts them).
MAX_SEEN = 64
#: Bound on the cache of routes (which links, and what seen) by identifier, origin and seen.
_MAX_ROUTES = 10_000

# A route: the links a message goes to, and the seen it tells them.
_Route = tuple[tuple[PeerLink, ...], tuple[str, ...]]


class _Incoming(threading.local):
    """What the peer that sent the message this thread hands the dispatcher said about it."""

    #: The sites that have the message already (a class default: reading it never raises).
    seen: tuple[str, ...] = ()


#: send_messages sets ``incoming.seen`` around dispatcher.send_many(); the registry's relays
#: reads it, in the same thread.
incoming = _Incoming()


def callback_name(principal: str, addr: str) -> str:
    """Name the callback link of principal's interconnect from addr."""
    return f"callback:{principal}@{addr}"


class Peers:
    """Every link of one dispatcher: configured peers, API-made ones and callbacks.

    A thread looks at the connections every ``CALLBACK_SYNC_SECONDS``
    (``sync_callbacks``): a call-back link whose peer's connection expired
    or was closed is stopped and forgotten (what it held is logged and
    counted), so callers that never come back cannot make the site grow.
    On a shared state (``state.shared``, several processes serve one site) a
    peer's ``interconnect`` call reaches one of them, but each process must
    forward the messages twittered in it: there the thread also calls back,
    from this process, each peer interconnected through another one.

    Thread safety: ``_lock`` guards ``_links``, ``_started`` and the sync
    thread; links are started and stopped outside it.
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        state: ConnectionState,
        *,
        self_url: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.state = state
        self.self_url = self_url
        #: The HTTP transport every link is built with (None: httpx's own).
        self.transport = transport
        self._links: dict[str, BaseLink] = {}
        self._relaying: tuple[PeerLink, ...] = ()  # the links that send; read without the lock
        # Routes by (identifier, origin, seen); replaced (never changed) when a link comes,
        # goes or learns its peer's name, so relay() reads it without the lock.
        self._routes: dict[tuple[str, str, tuple[str, ...]], _Route] = {}
        self._callers: dict[str, str] = {}  # call-back link name -> the principal it serves
        self._lock = threading.Lock()
        self._started = False
        self._sync_thread: threading.Thread | None = None
        self._sync_stop = threading.Event()

    # -- the links ----------------------------------------------------------

    def configure(
        self, configs: list[PeerConfig], self_url: str | None, state: ConnectionState | None = None
    ) -> None:
        """Replace every link by those of configs (the old ones are closed first)."""
        self.close()
        if state is not None:
            self.state = state
        self.self_url = self_url
        for config in configs:
            self.add(config)

    def add(self, config: PeerConfig) -> BaseLink:
        """Add a link; start it if the site runs.

        A link of the same name is replaced: what it has not sent yet goes
        first through the new one, in its order (``PeerLink.take_over``).
        """
        cls: type[BaseLink] = QueueLink if config.style == "queue" else PeerLink
        link = cls(config, self.dispatcher, self.state, self.self_url, transport=self.transport)
        with self._lock:
            old = self._links.pop(config.name, None)
            self._links[config.name] = link
            started = self._started
            if isinstance(old, PeerLink) and isinstance(link, PeerLink):
                link.take_over(old)
            elif old is not None:
                old.begin_stop(time.monotonic())  # a puller holds nothing to hand over
                old.client.close()
            self._links_changed()
        if started:
            link.start()
        return link

    def add_callback(
        self, addr: str, token: str, ttl: float, principal: str, *, limit: int | None = None
    ) -> BaseLink | None:
        """Start calling back an interconnected peer, unless a configured link already does.

        A peer that interconnects again (it restarted) gets the call-back link
        it had, on its new token, with what was buffered for it meanwhile.
        With limit, a principal holding that many call-back links (to other
        addresses) gets RPCError LIMIT_EXCEEDED ("MAX_INTERCONNECTS") instead.
        """
        name = callback_name(principal, addr)
        with self._lock:
            if any(
                link.config.url == addr and link.config.style != "callback"
                for link in self._links.values()
            ):
                return None
            link = self._links.get(name)
            if link is None and limit is not None:
                held = sum(owner == principal for owner in self._callers.values())
                if held >= limit:
                    raise limit_exceeded(
                        "MAX_INTERCONNECTS", limit, held + 1, "The number of interconnects"
                    )
            self._callers[name] = principal
        if isinstance(link, PeerLink) and link.config.style == "callback":
            link.retarget(token, ttl)
        else:
            config = PeerConfig(name=name, url=addr, style="callback", ttl=ttl, token=token)
            link = self.add(config)
        link.start()  # connect at once: the peer expects our messages from now on
        return link

    def remove(self, name: str, timeout: float = 5.0) -> bool:
        """Close and forget the link called name, flushing for timeout s; return whether it was."""
        with self._lock:
            link = self._links.pop(name, None)
            self._callers.pop(name, None)
            self._links_changed()
        if link is None:
            return False
        link.close(timeout)
        return True

    def _links_changed(self) -> None:
        """Renew the sending links, and be the dispatcher's relay while there are any.

        Caller holds ``self._lock``.
        """
        was = bool(self._relaying)
        self._relaying = tuple(link for link in self._links.values() if isinstance(link, PeerLink))
        for link in self._relaying:
            link.on_peer_node = self._forget_routes
        self._routes = {}
        if self._relaying and not was:
            self.dispatcher.add_relay(self)
        elif was and not self._relaying:
            self.dispatcher.remove_relay(self)

    def _forget_routes(self) -> None:
        self._routes = {}

    def relay(self, message: Message) -> None:
        """Hand a non-local message to each link that wants it and whose peer lacks it."""
        targets, seen = self.route(message)
        if targets:
            item = Outgoing(message, seen)  # one for all: its wire form is made once
            for link in targets:
                link.put(item)

    def route(self, message: Message) -> _Route:
        """Return the sending links message goes to, and the sites each peer is told have it.

        Read in the sending thread (``incoming.seen`` is the sender's), cached.
        """
        key = (message.id, message.origin, incoming.seen)
        routes = self._routes
        route = routes.get(key)
        if route is None:
            route = self._route(*key)
            if len(routes) >= _MAX_ROUTES:
                routes.clear()
            routes[key] = route
        return route

    def relay_many(self, messages: list[Message]) -> None:
        """relay() each message, in order: one route per run of alike ones, one put per link."""
        seen = incoming.seen
        routes = self._routes
        batches: dict[PeerLink, list[Outgoing]] = {}
        key: tuple[str, str, tuple[str, ...]] | None = None
        targets: tuple[PeerLink, ...] = ()
        has: tuple[str, ...] = ()
        for message in messages:
            if key is None or message.id != key[0] or message.origin != key[1]:
                key = (message.id, message.origin, seen)
                route = routes.get(key)
                if route is None:
                    route = self._route(*key)
                    if len(routes) >= _MAX_ROUTES:
                        routes.clear()
                    routes[key] = route
                targets, has = route
            if targets:
                item = Outgoing(message, has)  # one for all: its wire form is made once
                for link in targets:
                    batch = batches.get(link)
                    if batch is None:
                        batch = batches[link] = []
                    batch.append(item)
        for link, items in batches.items():
            link.put_many(items)

    def _route(self, identifier: str, origin: str, seen: tuple[str, ...]) -> _Route:
        """Decide which links a message goes to, and what each peer is told has it."""
        targets = [
            link
            for link in self._relaying
            if link.peer_node != origin
            and (link.peer_node is None or link.peer_node not in seen)
            and link.wants(identifier)
        ]
        # Who has it once these calls are made: the peer forwards it to none of them.
        # The origin needs no telling (nothing goes back there), nor a lone peer its own
        # name: then a message twittered here to one peer carries no seen at all.
        names = [self.dispatcher.node_name, *seen]
        names += [link.peer_node for link in targets if link.peer_node is not None]
        skip = {origin, targets[0].peer_node} if len(targets) == 1 else {origin}
        has = tuple(name for name in dict.fromkeys(names) if name not in skip)
        return tuple(targets), has[:MAX_SEEN]

    def links(self) -> list[BaseLink]:
        """Return the links, in the order they were added."""
        with self._lock:
            return list(self._links.values())

    def status(self) -> dict[str, Any]:
        """Return each link's figures by name (see BaseLink.status)."""
        return {link.config.name: link.status() for link in self.links()}

    # -- call-back sync -----------------------------------------------------

    def sync_callbacks(self) -> None:
        """Call back every peer interconnected with this site, whichever process it called."""
        latest: dict[str, Connection] = {}
        for connection in self.state.connections():
            if connection.style != "interconnect" or not (
                connection.addr and connection.remote_token
            ):
                continue  # not someone's interconnect (ours for callbacks carry no remote token)
            name = callback_name(connection.principal, connection.addr)
            if name not in latest or connection.expires_at > latest[name].expires_at:
                latest[name] = connection  # the one the peer used last
        with self._lock:
            links = dict(self._links)
        for name, connection in latest.items():
            link = links.get(name)
            if link is None or link.config.token != connection.remote_token:
                assert connection.addr is not None and connection.remote_token is not None
                self.add_callback(
                    connection.addr, connection.remote_token, connection.ttl, connection.principal
                )
        for name, link in links.items():
            if link.config.style == "callback" and name not in latest:
                # Expired (the peer never called again) or closed through another process.
                self.remove(name, timeout=0.0)

    def _sync_loop(self, stop: threading.Event) -> None:
        failing = False
        while not stop.wait(CALLBACK_SYNC_SECONDS):
            try:
                self.sync_callbacks()
                failing = False
            except Exception as exc:  # the state is unreachable for now: try again later
                if not failing:
                    logger.warning("berryMQ peers: cannot read the connections: %s", exc)
                failing = True

    # -- the lifecycle service ----------------------------------------------

    def start(self) -> None:
        """Start every link and the call-back sync thread; idempotent."""
        with self._lock:
            self._started = True
            if self._sync_thread is None:
                self._sync_stop = threading.Event()
                self._sync_thread = threading.Thread(
                    target=self._sync_loop,
                    args=(self._sync_stop,),
                    name="berrymq-peer-callbacks",
                    daemon=True,
                )
                self._sync_thread.start()
        for link in self.links():
            link.start()

    def stop(self, deadline: float) -> None:
        """Flush every link until deadline (monotonic), then stop them and the sync thread.

        The peers keep our connections (a restarting site finds what they
        buffered for it); ``close()`` and ``remove()`` close them.
        """
        with self._lock:
            self._started = False
            thread, self._sync_thread = self._sync_thread, None
        self._sync_stop.set()
        links = self.links()
        for link in links:
            link.begin_stop(deadline)  # all flush at once, within the one deadline
        for link in links:
            link.stop(deadline)
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))

    def close(self, timeout: float = 5.0) -> None:
        """Stop and forget every link (the registry itself goes on)."""
        with self._lock:
            links, self._links = list(self._links.values()), {}
            self._callers = {}
            self._links_changed()
        deadline = time.monotonic() + timeout
        for link in links:
            link.begin_stop(deadline)
        for link in links:
            link.close(max(0.0, deadline - time.monotonic()))

    def after_fork(self) -> None:
        """In a forked child: forget the parent's threads and connections; start nothing."""
        self._lock = threading.Lock()
        self._started = False
        self._sync_thread = None
        self._sync_stop = threading.Event()
        for link in self._links.values():
            link.after_fork()
