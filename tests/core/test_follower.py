"""Follower metaclass, FollowerMixin, following_function and explicit registration.

These use the default dispatcher (Follower and the module-level functions are
bound to it); tests/conftest.py isolates it for every test.
"""

from __future__ import annotations

import abc
import gc
import logging
import weakref

import pytest

from berrymq_django import (
    Follower,
    FollowerMixin,
    Message,
    default_dispatcher,
    following,
    following_function,
    regist_function,
    regist_method,
    register_function,
    register_method,
    show_followers,
    twitter,
    unregister,
)

from . import Recorder, memory_growth

STYLES = {
    "metaclass": ((), {"metaclass": Follower}),
    "mixin": ((FollowerMixin,), {}),
}


@pytest.fixture(params=sorted(STYLES))
def style(request):
    """(bases, class keywords) for a follower class written either way."""
    return STYLES[request.param]


# -- instance, class and static methods ------------------------------------


def test_instance_method_receives_once_an_instance_exists(style):
    bases, kwds = style
    received = []

    class Service(*bases, **kwds):
        @following("svc:ping")
        def on_ping(self, message):
            received.append((self, message))

    twitter("svc:ping")
    assert received == []

    service = Service()
    message = twitter("svc:ping", 1)
    assert len(received) == 1
    assert received[0][0] is service
    assert isinstance(received[0][1], Message)
    assert received[0][1].uid == message.uid


def test_two_instances_both_receive(style):
    bases, kwds = style
    received = []

    class Service(*bases, **kwds):
        def __init__(self, label):
            self.label = label

        @following("svc:ping")
        def on_ping(self, message):
            received.append(self.label)

    first, second = Service("first"), Service("second")
    twitter("svc:ping")
    assert received == ["first", "second"]
    assert first.label == "first" and second.label == "second"


@pytest.mark.parametrize("order", ["following-closest-to-def", "following-outermost"])
def test_classmethod_follower_is_registered_with_the_class(style, order):
    bases, kwds = style
    received = []

    if order == "following-closest-to-def":

        class Service(*bases, **kwds):
            @classmethod
            @following("svc:class")
            def on_class(cls, message):
                received.append(cls)

    else:

        class Service(*bases, **kwds):
            @following("svc:class")
            @classmethod
            def on_class(cls, message):
                received.append(cls)

    twitter("svc:class")  # no instance needed
    assert received == [Service]


@pytest.mark.parametrize("order", ["following-closest-to-def", "following-outermost"])
def test_staticmethod_follower_is_registered_with_the_class(style, order):
    bases, kwds = style
    received = []

    if order == "following-closest-to-def":

        class Service(*bases, **kwds):
            @staticmethod
            @following("svc:static")
            def on_static(message):
                received.append(message.id)

    else:

        class Service(*bases, **kwds):
            @following("svc:static")
            @staticmethod
            def on_static(message):
                received.append(message.id)

    twitter("svc:static")
    assert received == ["svc:static"]
    assert Service.on_static is not None


def test_decorated_methods_stay_callable_directly(style):
    bases, kwds = style

    class Service(*bases, **kwds):
        @following("svc:ping")
        def on_ping(self, message):
            return "called"

        @classmethod
        @following("svc:class")
        def on_class(cls, message):
            return cls

        @staticmethod
        @following("svc:static")
        def on_static(message):
            return "static"

    assert Service().on_ping(None) == "called"
    assert Service.on_class(None) is Service
    assert Service.on_static(None) == "static"


def test_guard_condition_on_a_method(style):
    bases, kwds = style
    received = []

    class Service(*bases, **kwds):
        @following("svc:ping", guard_condition=lambda message: message.kwargs.get("ok"))
        def on_ping(self, message):
            received.append(message.kwargs)

    _service = Service()
    twitter("svc:ping", ok=False)
    twitter("svc:ping", ok=True)
    assert received == [{"ok": True}]


def test_instance_of_a_subclass_receives_once(style):
    bases, kwds = style
    received = []

    class Base(*bases, **kwds):
        @following("svc:ping")
        def on_ping(self, message):
            received.append(type(self).__name__)

    class Child(Base):
        pass

    _child = Child()
    twitter("svc:ping")
    assert received == ["Child"]


# -- FollowerMixin on classes with other metaclasses and __init__ args -----


def test_mixin_works_with_an_abc():
    received = []

    class Named(abc.ABC):
        @abc.abstractmethod
        def name(self): ...

    class Service(FollowerMixin, Named):
        def name(self):
            return "svc"

        @following("svc:ping")
        def on_ping(self, message):
            received.append(self.name())

    with pytest.raises(TypeError):
        Named()
    _service = Service()
    twitter("svc:ping")
    assert received == ["svc"]


def test_mixin_works_with_abcmeta_given_as_metaclass():
    received = []

    class Service(FollowerMixin, metaclass=abc.ABCMeta):
        @following("svc:ping")
        def on_ping(self, message):
            received.append(message.id)

    _service = Service()
    twitter("svc:ping")
    assert received == ["svc:ping"]


def test_mixin_works_with_a_custom_metaclass():
    received = []
    created = []

    class Registry(type):
        def __new__(mcs, name, bases, namespace, **kwargs):
            cls = super().__new__(mcs, name, bases, namespace, **kwargs)
            created.append(name)
            return cls

    class Base(metaclass=Registry):
        pass

    class Service(FollowerMixin, Base):
        @following("svc:ping")
        def on_ping(self, message):
            received.append(message.id)

    _service = Service()
    twitter("svc:ping")
    assert received == ["svc:ping"]
    assert created == ["Base", "Service"]


def test_mixin_with_init_args_that_does_not_call_super():
    received = []

    class Service(FollowerMixin):
        def __init__(self, db, *, timeout=1):
            self.db = db
            self.timeout = timeout

        @following("svc:ping")
        def on_ping(self, message):
            received.append((self.db, self.timeout))

    _service = Service("db", timeout=5)
    twitter("svc:ping")
    assert received == [("db", 5)]


def test_mixin_with_init_args_that_calls_super():
    received = []

    class Service(FollowerMixin):
        def __init__(self, db):
            super().__init__()
            self.db = db

        @following("svc:ping")
        def on_ping(self, message):
            received.append(self.db)

    _service = Service("db")
    twitter("svc:ping")
    assert received == ["db"]


def test_metaclass_with_init_args():
    received = []

    class Service(metaclass=Follower):
        def __init__(self, db, *, timeout=1):
            self.db = db
            self.timeout = timeout

        @following("svc:ping")
        def on_ping(self, message):
            received.append((self.db, self.timeout))

    _service = Service("db", timeout=5)
    twitter("svc:ping")
    assert received == [("db", 5)]


# -- lifetime: instances are weak, functions are strong -------------------


def test_collected_instance_stops_receiving_without_error(style, caplog):
    bases, kwds = style
    received = []

    class Service(*bases, **kwds):
        @following("svc:ping")
        def on_ping(self, message):
            received.append(message.id)

    errors_before = default_dispatcher.error_count
    service = Service()
    twitter("svc:ping")
    ref = weakref.ref(service)
    del service
    gc.collect()
    assert ref() is None, "the dispatcher keeps the instance alive"

    with caplog.at_level(logging.DEBUG, logger="berrymq"):
        twitter("svc:ping")
    assert received == ["svc:ping"]
    assert default_dispatcher.error_count == errors_before
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_many_short_lived_instances_do_not_grow_the_dispatcher(style):
    bases, kwds = style

    class Service(*bases, **kwds):
        @following("svc:ping")
        def on_ping(self, message):
            pass

    baseline = len(show_followers())
    sizes = []
    for i in range(1000):
        Service()
        if i % 100 == 0:
            gc.collect()
            sizes.append(len(show_followers()))
    gc.collect()
    twitter("svc:ping")  # give lazy clean-up a chance
    assert max(sizes) <= baseline + 50, sizes
    assert len(show_followers()) == baseline


def test_short_lived_instances_leave_no_memory_behind_without_sends(style):
    bases, kwds = style

    class Service(*bases, **kwds):
        @following("svc:ping")
        def on_ping(self, message):
            pass

    # 10,000 dead subscriptions kept until the next send would be megabytes.
    assert memory_growth(Service) < 1_000_000


def test_register_method_holds_the_instance_weakly():
    received = []

    class Plain:
        def on_ping(self, message):
            received.append(message.id)

    errors_before = default_dispatcher.error_count
    obj = Plain()
    register_method("svc:ping", obj.on_ping)
    twitter("svc:ping")
    ref = weakref.ref(obj)
    del obj
    gc.collect()
    assert ref() is None
    twitter("svc:ping")
    assert received == ["svc:ping"]
    assert default_dispatcher.error_count == errors_before


def test_following_function_returns_the_function_unchanged():
    def handler(message):
        pass

    assert following_function("fn:ping")(handler) is handler


def test_decorated_function_is_held_strongly():
    received = []

    def subscribe():
        @following_function("fn:ping")
        def local_handler(message):
            received.append(message.id)

    subscribe()
    gc.collect()
    twitter("fn:ping")
    assert received == ["fn:ping"]


def test_following_function_with_guard_condition():
    received = []

    @following_function("fn:ping", guard_condition=lambda message: message.args == (2,))
    def handler(message):
        received.append(message.args)

    twitter("fn:ping", 1)
    twitter("fn:ping", 2)
    assert received == [(2,)]


# -- explicit registration and aliases -------------------------------------


def test_register_function_and_unregister():
    rec = Recorder()
    register_function("fn:ping", rec.fn)
    twitter("fn:ping")
    assert unregister(rec.fn) is True
    twitter("fn:ping")
    assert rec.count == 1
    assert unregister(rec.fn) is False


def test_register_method_and_unregister():
    received = []

    class Plain:
        def on_ping(self, message):
            received.append(message.id)

    obj = Plain()
    register_method("svc:ping", obj.on_ping)
    twitter("svc:ping")
    assert unregister(obj.on_ping) is True
    twitter("svc:ping")
    assert received == ["svc:ping"]


def test_regist_aliases_register_too():
    rec = Recorder()
    received = []

    class Plain:
        def on_ping(self, message):
            received.append(message.id)

    obj = Plain()
    regist_function("fn:ping", rec.fn)
    regist_method("fn:ping", obj.on_ping)
    twitter("fn:ping")
    assert rec.count == 1
    assert received == ["fn:ping"]


def test_unregister_unknown_returns_false():
    def never_registered(message):
        pass

    assert unregister(never_registered) is False


def test_register_function_with_guard_condition():
    rec = Recorder()
    register_function("fn:ping", rec.fn, guard_condition=lambda message: False)
    twitter("fn:ping")
    assert rec.count == 0
