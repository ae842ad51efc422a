"""berryMQ for Django: a programmer-friendly message bus.

Send with twitter() (or twitter_on_commit() inside a transaction), receive with
@following_function or Follower classes, pull with Queue. README.rst is the manual.
"""

from .core.api import (
    atwitter,
    default_dispatcher,
    regist_function,
    regist_method,
    register_function,
    register_method,
    set_multiplicity,
    show_followers,
    show_network,
    talk,
    twitter,
    unregister,
)
from .core.dispatcher import Dispatcher
from .core.exceptions import BerryMQError
from .core.follower import Follower, FollowerMixin, following, following_function
from .core.helpers import auto_twitter, twitter_exception
from .core.identifier import Identifier
from .core.message import Message
from .core.queue import Empty, Queue
from .core.version import __version__ as __version__

__all__ = [
    "BerryMQError",
    "Dispatcher",
    "Empty",
    "Follower",
    "FollowerMixin",
    "Identifier",
    "Message",
    "Queue",
    "atwitter",
    "auto_twitter",
    "default_dispatcher",
    "following",
    "following_function",
    "regist_function",
    "regist_method",
    "register_function",
    "register_method",
    "set_multiplicity",
    "show_followers",
    "show_network",
    "talk",
    "twitter",
    "twitter_exception",
    "twitter_on_commit",
    "unregister",
]


def __getattr__(name: str) -> object:
    # twitter_on_commit needs django.db: import it on first use, so that
    # ``import berrymq_django.core`` (which runs this file first) stays Django-free.
    if name == "twitter_on_commit":
        from .transaction import twitter_on_commit

        return twitter_on_commit
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
