# frozen_string_literal: true

require "test_helper"

# Followers in this process, without a site: berryMQ's in-process delivery.
class TestLocalDelivery < Minitest::Test
  class Counter
    include BerryMQ::Follower
    attr_reader :seen

    def initialize(label)
      @label = label
      @seen = []
    end

    following("localcount:*")
    def on_any(message) = @seen << [:any, message.id]

    following("localcount:special")
    def on_special(message)
      @seen << [:special, message.args]
    end

    def not_a_follower(message) = @seen << [:never, message]
  end

  class SubCounter < Counter
    following("localsub:go")
    def on_sub(message) = @seen << [:sub, message.kwargs]
  end

  def local_twitter(*args, **kwargs)
    message = BerryMQ.build_message(args.shift, args, kwargs, "test")
    BerryMQ.registry.deliver(message)
  end

  def test_following_marks_the_next_method_only
    counter = Counter.new("a")
    local_twitter("localcount:special", 1)
    local_twitter("localcount:other")
    assert_equal [[:any, "localcount:special"], [:special, [1]], [:any, "localcount:other"]], counter.seen
  ensure
    BerryMQ.unregister(counter)
  end

  def test_subclasses_inherit_and_add_followings
    sub = SubCounter.new("b")
    local_twitter("localsub:go", k: 1)
    local_twitter("localcount:x")
    assert_equal [[:sub, { k: 1 }], [:any, "localcount:x"]], sub.seen
  ensure
    BerryMQ.unregister(sub)
  end

  def test_following_function_and_unregister
    got = []
    block = BerryMQ.following_function("localfn:*") { |message| got << message.args }
    local_twitter("localfn:a", 1)
    assert BerryMQ.unregister(block)
    local_twitter("localfn:a", 2)
    assert_equal [[1]], got
  end

  def test_a_failing_follower_does_not_stop_the_others
    got = []
    errors = []
    BerryMQ.registry.on_error, previous = ->(error, _message) { errors << error }, BerryMQ.registry.on_error
    bad = BerryMQ.following_function("localfail:x") { raise "boom" }
    good = BerryMQ.following_function("localfail:x") { |message| got << message.id }
    local_twitter("localfail:x")
    assert_equal ["localfail:x"], got
    assert_equal ["boom"], errors.map(&:message)
  ensure
    BerryMQ.registry.on_error = previous
    BerryMQ.unregister(bad)
    BerryMQ.unregister(good)
  end

  def test_options_and_urls_are_checked_before_any_call
    [{ batch_size: 0 }, { batch_size: 2.5 }, { ttl: -1 }, { ttl: "600" }, { retry_for: Float::NAN },
     { poll_seconds: nil }].each do |options|
      error = assert_raises(ArgumentError) { BerryMQ::Client.new("http://nowhere.invalid/", api_key: "k", **options) }
      name, value = options.first
      assert_includes error.message, "option #{name} must be"
      assert_includes error.message, value.inspect
    end
    ["not a url", "http://[::1", 42].each do |url|
      error = assert_raises(ArgumentError) { BerryMQ::Client.new(url, api_key: "k") }
      assert_includes error.message, url.inspect
    end
  end

  def test_arguments_json_cannot_carry_are_refused
    error = assert_raises(ArgumentError) { BerryMQ.build_message("a:b", [Float::NAN], {}, "t") }
    assert_includes error.message, "JSON"
  end

  def test_objects_that_would_travel_as_their_to_s_are_refused_by_name
    error = assert_raises(ArgumentError) { BerryMQ.build_message("a:b", [1, [Object.new]], {}, "t") }
    assert_includes error.message, "args[1][0]"
    assert_includes error.message, "(Object)"
    error = assert_raises(ArgumentError) { BerryMQ.build_message("a:b", [], { at: Time.at(0) }, "t") }
    assert_includes error.message, "kwargs[:at]"
    error = assert_raises(ArgumentError) { BerryMQ.build_message("a:b", [{ 1 => 2 }], {}, "t") }
    assert_includes error.message, "has the key 1 (Integer)"
    message = BerryMQ.build_message("a:b", [1, 2.5, "s", :sym, nil, true, [{ "k" => [false] }]],
                                    { n: { m: 1 } }, "t")
    assert_equal "a:b", message.id
  end
end
