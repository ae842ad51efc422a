# frozen_string_literal: true

require "test_helper"
require "lossy_proxy"

# The client against a live berrymq_django site (see test_helper.rb).
class TestSite < Minitest::Test
  include SiteHelpers

  def setup
    require_site!
  end

  # -- twitter ---------------------------------------------------------------

  def test_twitter_reaches_the_python_follower_exactly_once
    identifier = "#{fresh("rbonce")}:log"
    5.times { |i| BerryMQ.twitter(identifier, i, level: "info") }
    BerryMQ.flush
    eventually("5 messages on the site") { python_received(identifier).size >= 5 }
    settle
    got = python_received(identifier)
    assert_equal [0, 1, 2, 3, 4], got.map { _1["args"].first }
    assert_equal [{ "level" => "info" }], got.map { _1["kwargs"] }.uniq
    assert_equal [BerryMQ.client.origin], got.map { _1["origin"] }.uniq
    assert_equal 5, got.map { _1["uid"] }.uniq.size
  end

  def test_a_lost_token_is_replaced_without_losing_messages
    identifier = "#{fresh("rbtoken")}:x"
    # Close the client's send-only connection behind its back, as an expiry would.
    closer = BerryMQ::Transport.new(URL, api_key: API_KEY)
    assert_equal "ok", closer.call("close_connection", [BerryMQ.client.oneway_token], timeout: 10)
    BerryMQ.twitter(identifier, "after")
    BerryMQ.flush
    eventually("the message sent after the token was lost") { python_received(identifier).size == 1 }
  end

  def test_a_batch_whose_answer_was_lost_is_sent_again_and_delivered_once
    proxy = LossyProxy.new(URL)
    client = BerryMQ::Client.new(proxy.url, api_key: API_KEY)
    proxy.lose(1, matching: /"send_messages"/)
    identifier = "#{fresh("rblost")}:x"
    3.times { |i| client.twitter(identifier, i) }
    client.flush(timeout: 30)
    assert_equal 1, proxy.lost, "the proxy did not lose the answer"
    eventually("3 messages on the site") { python_received(identifier).size >= 3 }
    settle
    assert_equal [0, 1, 2], python_received(identifier).map { _1["args"].first }
  ensure
    client&.close
    proxy&.close
  end

  def test_a_talk_whose_answer_was_lost_is_not_repeated
    proxy = LossyProxy.new(URL)
    client = BerryMQ::Client.new(proxy.url, api_key: API_KEY)
    proxy.lose(1, matching: /"talk"/)
    sku = fresh("SKU-")
    assert_raises(BerryMQ::Unavailable) { client.talk("price:quote", "price:quoted", sku) }
    settle
    asked = python_received("price:quote").count { _1["args"] == [sku] }
    assert_equal 1, asked, "the talk ran #{asked} times on the site"
  ensure
    client&.close
    proxy&.close
  end

  def test_a_batch_past_the_sites_body_limit_goes_in_halves
    identifier = "#{fresh("rbhalves")}:big"
    big = "x" * 1_500_000 # three make a body past the site's MAX_BODY_BYTES (4 MiB)
    messages = Array.new(3) { |i| BerryMQ.build_message(identifier, [i, big], {}, "test").to_wire }
    sender = BerryMQ::Sender.new(BerryMQ.client, BerryMQ.client.new_transport, batch_size: 10)
    # Buffered before the thread starts, so that they leave as one batch.
    sender.instance_variable_get(:@buffer).concat(messages[0..1])
    sender.push(messages[2])
    sender.flush(30)
    eventually("3 messages on the site") { python_received(identifier).size >= 3 }
    assert_equal [0, 1, 2], python_received(identifier).map { _1["args"].first }
  ensure
    sender&.close(5)
  end

  # -- followers -------------------------------------------------------------

  def test_followers_in_two_namespaces_each_receive
    name = fresh("rbns")
    got = Thread::Queue.new
    blocks = [BerryMQ.following_function("#{name}@eu:*") { |message| got << message.id },
              BerryMQ.following_function("#{name}:*") { |message| got << message.id }]
    python_twitter("#{name}@eu:created")
    python_twitter("#{name}:created")
    ids = eventually("both messages") { got.size >= 2 && Array.new(got.size) { got.pop } }
    assert_equal ["#{name}:created", "#{name}@eu:created"], ids.sort
    assert_includes BerryMQ.client.following_patterns, "#{name}@eu:*" # a connection of its own
    # A backlog on one connection drains without waiting on the other after each message.
    python_twitter("#{name}:burst", count: 100)
    eventually("the burst of 100", timeout: 30) { got.size >= 100 }
  ensure
    blocks&.each { BerryMQ.unregister(_1) }
  end

  # A name of this run's own: a site may serve several runs.
  FOLLOW = "rbfollow#{SecureRandom.hex(4)}"

  class Recorder
    include BerryMQ::Follower
    attr_reader :messages

    def initialize
      @messages = Thread::Queue.new
    end

    following("#{FOLLOW}:*")
    def on_follow(message) = @messages << message
  end

  def test_a_follower_object_receives_a_message_twittered_in_python
    recorder = Recorder.new
    python_twitter("#{FOLLOW}:go", [1, "two"], { "three" => 3 })
    message = eventually("the follower to receive it") { recorder.messages.pop(true) rescue nil }
    assert_equal "#{FOLLOW}:go", message.id
    assert_equal [0, 1, "two"], message.args
    assert_equal({ three: 3 }, message.kwargs)
    assert_equal python_received("#{FOLLOW}:go").first["uid"], message.uid
    assert_equal "clients-site", message.origin
  ensure
    BerryMQ.unregister(recorder)
  end

  def test_a_following_function_receives_a_message_twittered_in_python
    identifier = "#{fresh("rbfn")}:created"
    got = Thread::Queue.new
    block = BerryMQ.following_function(identifier.sub(/:.*/, ":*")) { |message| got << message }
    python_twitter(identifier, ["order-1"])
    message = eventually("the function to receive it") { got.pop(true) rescue nil }
    assert_equal [identifier, [0, "order-1"]], [message.id, message.args]
    settle
    assert got.empty?, "received twice"
  ensure
    BerryMQ.unregister(block)
  end

  def test_own_messages_reach_local_followers_once_not_back_from_the_site
    name = fresh("rbown")
    got = Thread::Queue.new
    block = BerryMQ.following_function("#{name}:*") { |message| got << message.uid }
    sent = BerryMQ.twitter("#{name}:x", 1)
    assert_equal sent.uid, got.pop(true) # delivered here, at once
    BerryMQ.flush
    eventually("the site to have it") { python_received("#{name}:x").size == 1 }
    # A Python message after ours: once it is here, ours would have come back before it.
    python_twitter("#{name}:marker")
    eventually("the marker") { !got.empty? }
    assert_equal 0, got.size - 1, "our own message came back from the site"
  ensure
    BerryMQ.unregister(block)
  end

  def test_a_ruby_follower_answers_a_talk_request
    name = fresh("rbanswer")
    block = BerryMQ.following_function("#{name}:ask") { |message| "ruby says #{message.args.first}" }
    BerryMQ.talk("#{name}:ask", "#{name}:answered", "hi")
    # The site's own "*:*" recorder answers too (nil); the Ruby answer is the other one.
    reply = eventually("the Ruby follower's answer on the site") do
      python_received("#{name}:answered").find { _1["args"] == ["ruby says hi"] }
    end
    assert_equal BerryMQ.client.origin, reply["origin"]
    assert reply["kwargs"].key?("in_reply_to")
  ensure
    BerryMQ.unregister(block)
  end

  # -- queues ----------------------------------------------------------------

  def test_queue_get_nowait_get_and_timeout
    name = fresh("rbqueue")
    queue = BerryMQ::Queue.new("#{name}:*")
    assert_raises(BerryMQ::Empty) { queue.get_nowait }
    python_twitter("#{name}:job", [1])
    assert_equal [0, 1], queue.get_nowait.args # on the site by the time /send/ answered
    assert_raises(BerryMQ::Empty) { queue.get(timeout: 0.5) }
    waiter = Thread.new { queue.get(timeout: 30) }
    python_twitter("#{name}:job", [2])
    assert_equal [0, 2], waiter.value.args
    BerryMQ.twitter("#{name}:job", 3) # this process's own messages too
    assert_equal [3], queue.get(timeout: 30).args
    assert_raises(BerryMQ::Empty) { queue.get_nowait }
  ensure
    queue&.close
  end

  def test_a_queue_whose_token_was_lost_opens_a_new_one
    name = fresh("rbqlost")
    queue = BerryMQ::Queue.new("#{name}:*")
    closer = BerryMQ::Transport.new(URL, api_key: API_KEY)
    assert_equal "ok", closer.call("close_connection", [queue.instance_variable_get(:@token)], timeout: 10)
    assert_raises(BerryMQ::Empty) { queue.get_nowait } # on a new connection
    python_twitter("#{name}:job", [7])
    assert_equal [0, 7], queue.get(timeout: 30).args
  ensure
    queue&.close
  end

  # -- talk ------------------------------------------------------------------

  def test_bad_timeouts_are_argument_errors_naming_them
    queue = BerryMQ::Queue.new("#{fresh("rbtimeout")}:*")
    [-1, "5", Float::NAN].each do |timeout|
      error = assert_raises(ArgumentError) { queue.get(timeout: timeout) }
      assert_includes error.message, timeout.inspect
    end
    [-1, 0, "5"].each do |timeout|
      error = assert_raises(ArgumentError) { BerryMQ.talk("price:quote", "price:quoted", timeout: timeout) }
      assert_includes error.message, "timeout must be a positive number of seconds, not #{timeout.inspect}"
    end
  ensure
    queue&.close
  end

  def test_talk_returns_the_python_followers_answer
    replies = Thread::Queue.new
    block = BerryMQ.following_function("price:quoted") { |message| replies << message }
    results = BerryMQ.talk("price:quote", "price:quoted", "SKU-1", timeout: 30, currency: "JPY")
    answer = { "sku" => "SKU-1", "price" => 9.9, "currency" => "JPY" }
    assert_includes results, answer
    seen = []
    reply = eventually("the answer as a message") do
      seen << replies.pop until replies.empty?
      seen.find { _1.args == [answer] }
    end
    assert_equal "clients-site", reply.origin
  ensure
    BerryMQ.unregister(block)
  end

  # -- errors and exit -------------------------------------------------------

  def test_a_bad_key_is_an_authentication_error
    error = assert_raises(BerryMQ::AuthenticationError) do
      BerryMQ::Client.new(URL, api_key: "not-a-key-of-this-site-0123456789abcdef")
    end
    assert_equal 401, error.status
  end

  def test_a_wrong_path_fails_at_once_with_a_hint
    started = BerryMQ.monotonic
    error = assert_raises(BerryMQ::Error) do
      BerryMQ::Client.new(URL.sub("/berrymq/rpc/", "/nope/"), api_key: API_KEY, retry_for: 10)
    end
    refute_kind_of BerryMQ::Unavailable, error
    assert_match(/HTTP 404.*Is the url the site's berryMQ endpoint/m, error.message)
    assert_operator BerryMQ.monotonic - started, :<, 5, "it was retried as if the site were down"
  end

  def test_a_site_that_does_not_answer_is_unavailable_after_retries
    port = TCPServer.open("127.0.0.1", 0) { _1.addr[1] } # free now, and nobody listens
    error = assert_raises(BerryMQ::Unavailable) do
      BerryMQ::Client.new("http://127.0.0.1:#{port}/berrymq/rpc/", api_key: API_KEY, retry_for: 1)
    end
    assert_match(/failed \d+ times/, error.message)
  end

  def test_messages_twittered_just_before_exit_are_delivered
    name = fresh("rbexit")
    output, status = run_ruby(<<~RUBY)
      require "berrymq"
      BerryMQ.connect(ENV["BERRYMQ_URL"], api_key: ENV["BERRYMQ_API_KEY"])
      300.times { |i| BerryMQ.twitter("#{name}:n", i) }
      puts "pending at exit: \#{BerryMQ.client.pending}"
    RUBY
    assert status.success?, output
    eventually("300 messages on the site") { python_received("#{name}:n").size >= 300 }
    settle
    assert_equal (0...300).to_a, python_received("#{name}:n").map { _1["args"].first }
  end
end
