"""Identifier parsing, matching, namespaces and the errors for malformed ones."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berrymq_django import Identifier, following_function, register_function, twitter
from berrymq_django.core.dispatcher import Dispatcher

from . import Recorder

# -- parsing ---------------------------------------------------------------


def test_name_and_action_are_split_on_the_colon():
    ident = Identifier("sample:test")
    assert (ident.name, ident.action, ident.namespace) == ("sample", "test", None)


def test_name_alone_means_every_action():
    assert Identifier("sample") == Identifier("sample:*")
    assert Identifier("sample").action == "*"


def test_star_alone_means_every_name_and_action():
    ident = Identifier("*")
    assert (ident.name, ident.action) == ("*", "*")
    assert ident == Identifier("*:*")


def test_star_name_with_action_parses():
    ident = Identifier("*:action")
    assert (ident.name, ident.action) == ("*", "action")


def test_namespace_is_parsed_after_the_at_sign():
    ident = Identifier("name@ns:action")
    assert (ident.name, ident.namespace, ident.action) == ("name", "ns", "action")


def test_str_is_the_canonical_form():
    assert str(Identifier("sample")) == "sample:*"
    assert str(Identifier("*")) == "*:*"
    assert str(Identifier("name@ns:action")) == "name@ns:action"


def test_equal_identifiers_hash_alike():
    assert hash(Identifier("sample")) == hash(Identifier("sample:*"))
    assert len({Identifier("sample"), Identifier("sample:*"), Identifier("other")}) == 2


def test_name_starting_with_underscore_is_local():
    assert Identifier("_private:x").is_local
    assert not Identifier("public:x").is_local
    assert not Identifier("pub_lic:x").is_local


# -- matching --------------------------------------------------------------


@pytest.mark.parametrize(
    ("follower", "sent"),
    [
        ("sample:test", "sample:test"),
        ("sample:test", "*:test"),
        ("sample:test", "sample:*"),
        ("sample:test", "*"),
        ("sample", "sample:test"),
        ("*:test", "sample:test"),
        ("*", "anything:goes"),
        ("name@ns:action", "name@ns:action"),
        ("name@ns:action", "*@ns:*"),
    ],
)
def test_star_on_either_side_matches(follower, sent):
    assert Identifier(follower).matches(sent)
    assert Identifier(follower).matches(Identifier(sent))


@pytest.mark.parametrize(
    ("follower", "sent"),
    [
        ("sample:test", "sample:other"),
        ("sample:test", "other:test"),
        ("sample", "other:test"),
        ("*:test", "sample:other"),
    ],
)
def test_different_parts_do_not_match(follower, sent):
    assert not Identifier(follower).matches(sent)


@pytest.mark.parametrize(
    ("follower", "sent"),
    [
        ("name@ns:action", "name:action"),
        ("name:action", "name@ns:action"),
        ("name@ns:action", "name@other:action"),
        ("*", "name@ns:action"),
    ],
)
def test_namespaces_must_be_equal_to_match(follower, sent):
    assert not Identifier(follower).matches(sent)


def test_follower_of_exact_identifier_gets_wildcard_sends():
    dispatcher = Dispatcher()
    rec = Recorder()
    dispatcher.register_function("sample:test", rec.fn)
    for sent in ["*:test", "sample:*", "sample", "*", "*:*", "sample:test"]:
        dispatcher.twitter(sent)
    assert rec.ids == ["*:test", "sample:*", "sample", "*", "*:*", "sample:test"]


def test_namespaced_message_reaches_only_followers_in_that_namespace():
    dispatcher = Dispatcher()
    in_ns, other_ns, default_ns = Recorder(), Recorder(), Recorder()
    dispatcher.register_function("order@shop:paid", in_ns.fn)
    dispatcher.register_function("order@bank:paid", other_ns.fn)
    dispatcher.register_function("order:paid", default_ns.fn)

    dispatcher.twitter("order@shop:paid")

    assert in_ns.count == 1
    assert other_ns.count == 0
    assert default_ns.count == 0


def test_default_namespace_message_does_not_reach_namespaced_followers():
    dispatcher = Dispatcher()
    in_ns, default_ns = Recorder(), Recorder()
    dispatcher.register_function("order@shop:paid", in_ns.fn)
    dispatcher.register_function("order:paid", default_ns.fn)

    dispatcher.twitter("order:paid")
    dispatcher.twitter("*")

    assert in_ns.count == 0
    assert default_ns.count == 2


# -- malformed identifiers -------------------------------------------------

MALFORMED = [
    "",
    ":a",
    "a:",
    ":",
    "a::b",
    "a:b:c",
    "a@b@c:d",
    "@ns:a",
    "a@:b",
    "a b:c",
    " a:b",
    "a:b ",
    "a:\tb",
    "a:b\n",
    "a\u00a0b:c",  # no-break space
    "a:\u3000b",  # ideographic space
    "a\u2028:b",  # line separator
]


@pytest.mark.parametrize("bad", MALFORMED)
def test_malformed_identifier_raises_value_error_naming_it(bad):
    with pytest.raises(ValueError) as excinfo:
        Identifier(bad)
    assert repr(bad) in str(excinfo.value)


@pytest.mark.parametrize("bad", [3, None, b"a:b", ["a", "b"]])
def test_non_string_identifier_raises_type_error_naming_the_type(bad):
    with pytest.raises(TypeError) as excinfo:
        Identifier(bad)
    assert type(bad).__name__ in str(excinfo.value)


def test_malformed_identifier_fails_at_decoration_time():
    def handler(message):
        pass

    with pytest.raises(ValueError) as excinfo:
        following_function("bad id")
    assert repr("bad id") in str(excinfo.value)

    with pytest.raises(ValueError):
        register_function("a::b", handler)


def test_non_string_identifier_fails_at_decoration_time():
    with pytest.raises(TypeError) as excinfo:
        following_function(None)
    assert "NoneType" in str(excinfo.value)


@pytest.mark.parametrize("bad", ["a::b", "a b", ""])
def test_malformed_identifier_fails_at_send_time(bad):
    with pytest.raises(ValueError) as excinfo:
        twitter(bad)
    assert repr(bad) in str(excinfo.value)


def test_non_string_identifier_fails_at_send_time():
    with pytest.raises(TypeError) as excinfo:
        Dispatcher().twitter(3)
    assert "int" in str(excinfo.value)


# -- property: matching is the reference definition ------------------------

PARTS = st.sampled_from(["a", "b", "*"])
NAMESPACES = st.none() | st.sampled_from(["x", "y"])


@st.composite
def identifier_texts(draw):
    """Draw (text, (name, namespace, action)) over a tiny alphabet so matches are common."""
    name, namespace, action = draw(PARTS), draw(NAMESPACES), draw(PARTS)
    head = name if namespace is None else f"{name}@{namespace}"
    if draw(st.booleans()):
        return f"{head}:{action}", (name, namespace, action)
    return head, (name, namespace, "*")  # "name" alone means "name:*"


def reference_matches(left, right):
    (lname, lns, laction), (rname, rns, raction) = left, right

    def part(a, b):
        return a == b or "*" in (a, b)

    return lns == rns and part(lname, rname) and part(laction, raction)


@given(identifier_texts(), identifier_texts())
def test_matching_is_symmetric_and_equals_the_reference(left, right):
    (ltext, lparts), (rtext, rparts) = left, right
    forward = Identifier(ltext).matches(Identifier(rtext))
    assert forward == Identifier(rtext).matches(Identifier(ltext))
    assert forward == reference_matches(lparts, rparts)
    assert forward == Identifier(ltext).matches(rtext)


@given(identifier_texts())
def test_str_round_trips_through_identifier(drawn):
    text, (name, namespace, action) = drawn
    ident = Identifier(text)
    again = Identifier(str(ident))
    assert again == ident
    assert str(again) == str(ident)
    assert (again.name, again.namespace, again.action) == (name, namespace, action)
