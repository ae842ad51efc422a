# frozen_string_literal: true

require "test_helper"

# The identifier grammar and matching, which must agree with the site's.
class TestIdentifier < Minitest::Test
  def test_parts
    ident = BerryMQ::Identifier.parse("order@eu:created")
    assert_equal %w[order created eu], [ident.name, ident.action, ident.namespace]
    assert_equal "order:*", BerryMQ::Identifier.parse("order").text
  end

  def test_wildcards_match_on_either_side
    assert BerryMQ::Identifier.parse("*:log").match?("app:log")
    assert BerryMQ::Identifier.parse("app:log").match?("*:log")
    assert BerryMQ::Identifier.parse("app").match?("app:anything")
    assert BerryMQ::Identifier.parse("*").match?("x:y")
    refute BerryMQ::Identifier.parse("app:log").match?("app:warn")
  end

  def test_namespaces_never_match_across
    refute BerryMQ::Identifier.parse("*:*").match?("order@eu:created")
    assert BerryMQ::Identifier.parse("*@eu:*").match?("order@eu:created")
  end

  def test_bad_identifiers_name_the_value
    ["", "a b:c", "a:b:c", "a@b@c:d", "a:", ":b", "a@:b", "a:b@c"].each do |text|
      error = assert_raises(ArgumentError) { BerryMQ::Identifier.parse(text) }
      assert_includes error.message, text.inspect
    end
    assert_raises(TypeError) { BerryMQ::Identifier.parse(42) }
  end

  def test_cover_is_the_narrowest_single_pattern
    cover = ->(*texts) { BerryMQ::Identifier.cover(texts.map { BerryMQ::Identifier.parse(_1) }).text }
    assert_equal "order:created", cover.call("order:created")
    assert_equal "order:*", cover.call("order:created", "order:paid")
    assert_equal "*:log", cover.call("app:log", "db:log")
    assert_equal "*:*", cover.call("app:log", "order:created")
  end
end
