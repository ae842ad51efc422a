"""The process-wide dispatcher and the module-level functions bound to it."""

from __future__ import annotations

from .dispatcher import Dispatcher

__all__ = [
    "atwitter",
    "default_dispatcher",
    "regist_function",
    "regist_method",
    "register_function",
    "register_method",
    "set_multiplicity",
    "show_followers",
    "show_network",
    "talk",
    "twitter",
    "unregister",
]

default_dispatcher = Dispatcher()

# Bound methods, not wrappers: twitter() is the hot path. Tests isolate the
# dispatcher's state (Dispatcher.isolate) rather than replace the object.
twitter = default_dispatcher.twitter
atwitter = default_dispatcher.atwitter
talk = default_dispatcher.talk
register_function = default_dispatcher.register_function
register_method = default_dispatcher.register_method
unregister = default_dispatcher.unregister
set_multiplicity = default_dispatcher.set_multiplicity
show_followers = default_dispatcher.show_followers
show_network = default_dispatcher.show_network

# The original berryMQ spelling.
regist_function = register_function
regist_method = register_method
