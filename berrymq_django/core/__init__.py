"""berryMQ's engine in plain Python: identifiers, messages, dispatcher, queues.

Nothing here imports Django, so the engine can be used and tested alone.
"""

from .api import (
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
from .dispatcher import Dispatcher
from .exceptions import BerryMQError
from .follower import Follower, FollowerMixin, following, following_function
from .helpers import auto_twitter, twitter_exception
from .identifier import Identifier
from .message import Message
from .queue import Empty, Queue

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
    "unregister",
]
