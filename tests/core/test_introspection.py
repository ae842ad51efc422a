"""show_followers() lines and show_network() Graphviz DOT."""

from __future__ import annotations

from berrymq_django import Queue, following_function, show_followers, show_network
from berrymq_django.core.dispatcher import Dispatcher

from . import dotted_name


def audit_log(message):
    pass


class Mailer:
    def send_mail(self, message):
        pass


def test_no_followers_means_no_lines():
    assert Dispatcher().show_followers() == []


def test_show_followers_has_one_line_per_function_subscription():
    dispatcher = Dispatcher()
    dispatcher.register_function("order:paid", audit_log)
    assert dispatcher.show_followers() == [f"order:paid -> {dotted_name(audit_log)} (function)"]


def test_show_followers_names_methods_by_class_qualname():
    dispatcher = Dispatcher()
    mailer = Mailer()
    dispatcher.register_method("order:paid", mailer.send_mail)
    assert dispatcher.show_followers() == [
        f"order:paid -> {dotted_name(Mailer.send_mail)} (method)"
    ]


def test_show_followers_lists_every_subscription():
    dispatcher = Dispatcher()
    mailer = Mailer()
    dispatcher.register_function("order:paid", audit_log)
    dispatcher.register_function("order:refunded", audit_log)
    dispatcher.register_method("order:paid", mailer.send_mail)
    lines = dispatcher.show_followers()
    assert len(lines) == 3
    assert all(isinstance(line, str) for line in lines)


def test_show_followers_uses_the_canonical_pattern():
    dispatcher = Dispatcher()
    dispatcher.register_function("order", audit_log)
    (line,) = dispatcher.show_followers()
    assert line.startswith("order:* -> ")


def test_unregistered_follower_is_not_shown():
    dispatcher = Dispatcher()
    dispatcher.register_function("order:paid", audit_log)
    dispatcher.unregister(audit_log)
    assert dispatcher.show_followers() == []


def test_show_followers_lists_queues_and_decorated_functions():
    @following_function("order:paid")
    def on_paid(message):
        pass

    _queue = Queue("order:shipped")
    lines = show_followers()
    assert f"order:paid -> {dotted_name(on_paid)} (function)" in lines
    queue_lines = [line for line in lines if line.endswith("(queue)")]
    assert len(queue_lines) == 1
    assert queue_lines[0].startswith("order:shipped -> ")


def test_show_network_is_a_graphviz_digraph():
    dot = Dispatcher().show_network()
    assert dot.lstrip().startswith("digraph")
    assert dot.rstrip().endswith("}")
    assert dot.count("{") == dot.count("}")


def test_show_network_names_identifiers_and_followers():
    dispatcher = Dispatcher()
    mailer = Mailer()
    dispatcher.register_function("order:paid", audit_log)
    dispatcher.register_method("invoice:sent", mailer.send_mail)

    dot = dispatcher.show_network()

    assert dot.lstrip().startswith("digraph")
    for text in [
        "order:paid",
        "invoice:sent",
        dotted_name(audit_log),
        dotted_name(Mailer.send_mail),
    ]:
        assert text in dot
    assert "->" in dot


def test_module_level_show_network_uses_the_default_dispatcher():
    @following_function("order:paid")
    def on_paid(message):
        pass

    assert dotted_name(on_paid) in show_network()
