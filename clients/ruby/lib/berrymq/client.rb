# frozen_string_literal: true

require "json"
require "securerandom"
require "socket"

module BerryMQ
  # A connection to one berryMQ site's JSON-RPC endpoint: sends, talks, and
  # brings messages to the followers of this process.
  #
  # Most programs use the module functions (BerryMQ.connect, .twitter, ...),
  # which work on one default Client. Options (seconds unless said):
  #
  # ttl            600   a connection token expires after this long unused
  # retry_for      10    how long a call (connect, talk, a queue's get) retries a
  #                      site that is down or answers -32005 before Unavailable
  # flush_timeout  10    how long close (and so the end of the program) waits
  #                      for unsent messages
  # batch_size     500   most messages in one send_messages call
  # poll_seconds   20    how long each long poll of the followers' connection waits
  # timeout        30    default wait for talk's answer
  # origin               this client's node name, put on every message it sends
  #                      (default "ruby:<host>:<pid>:<random>")
  class Client
    DEFAULTS = { ttl: 600, retry_for: 10, flush_timeout: 10, batch_size: 500,
                 poll_seconds: 20, timeout: 30 }.freeze

    attr_reader :url, :origin, :options

    # Connect to the endpoint at url with api_key: make a send-only connection
    # (connect_oneway). Raise AuthenticationError when the site refuses the key,
    # Unavailable when it cannot be reached within retry_for seconds.
    def initialize(url, api_key:, origin: nil, registry: BerryMQ.registry, **options)
      unknown = options.keys - DEFAULTS.keys
      raise ArgumentError, "unknown BerryMQ option(s): #{unknown.join(", ")}" unless unknown.empty?
      unless api_key.is_a?(String) && !api_key.strip.empty?
        raise ArgumentError, "api_key must be a non-empty String, not #{api_key.class}"
      end

      @url = url
      @api_key = api_key
      @options = DEFAULTS.merge(options)
      Client.check_options(@options)
      @origin = origin || "ruby:#{Socket.gethostname}:#{Process.pid}:#{SecureRandom.hex(4)}"
      @registry = registry
      @control = new_transport
      @token_lock = Mutex.new
      @oneway = open_oneway
      @sender = Sender.new(self, new_transport, batch_size: @options[:batch_size])
      @receiver = nil
      @closed = false
    end

    # Raise ArgumentError naming the first option that is not a positive number
    # (batch_size: a positive Integer).
    def self.check_options(options)
      options.each do |name, value|
        ok = value.is_a?(Numeric) && value.positive? && value.finite?
        ok &&= value.is_a?(Integer) if name == :batch_size
        next if ok

        kind = name == :batch_size ? "a positive Integer" : "a positive number of seconds"
        raise ArgumentError, "BerryMQ option #{name} must be #{kind}, not #{value.inspect}"
      end
    end

    # A new Transport to the site (one per thread that calls it).
    def new_transport = Transport.new(@url, api_key: @api_key)

    # Send identifier(*args, **kwargs): deliver it to this process's followers now,
    # and queue it for the site (sent in the background, see Sender). Return the
    # Message. A local identifier ("_name:...") is delivered here only.
    def twitter(identifier, *args, **kwargs)
      message = BerryMQ.build_message(identifier, args, kwargs, @origin)
      @registry.deliver(message)
      @sender.push(message.to_wire) unless message.identifier.local?
      message
    end

    # Call the followers of identifier on the site; return their results (an
    # Array, in follower order). Each result is also sent to reply_pattern.
    # Wait at most timeout seconds for the answer. The call is not repeated once
    # the site may have run it; raise Unavailable when it cannot be made.
    def talk(identifier, reply_pattern, *args, timeout: @options[:timeout], **kwargs)
      Client.check_options(timeout: timeout)
      Identifier.parse(reply_pattern)
      BerryMQ.encodable!(args, kwargs)
      params = [nil, Identifier.parse(identifier).text, reply_pattern, args, kwargs]
      with_oneway do |token|
        params[0] = token
        @control.call_with_retries("talk", params, timeout: timeout,
                                                   retry_for: @options[:retry_for], idempotent: false)
      end
    end

    # Wait until every twittered message is sent; raise Unavailable after timeout.
    def flush(timeout: @options[:flush_timeout])
      @sender.flush(timeout)
    end

    # Messages twittered but not yet acknowledged by the site.
    def pending = @sender.pending

    # Flush (at most flush_timeout), stop the threads and close the connections.
    # A site that did not take the messages is not waited on again: its
    # connections for this client expire after ttl.
    def close(timeout: @options[:flush_timeout])
      return if @closed

      @closed = true
      answering = @sender.close(timeout).zero?
      @receiver&.close(goodbye: answering)
      begin
        @control.call("close_connection", [oneway_token], timeout: 5) if answering
      rescue Error
        nil
      end
      @control.reset
    end

    def closed? = @closed

    # Start (or widen) the followers' queue connection; called when one registers.
    def follow!
      return if @closed

      @receiver ||= Receiver.new(self, @registry, poll_seconds: @options[:poll_seconds],
                                                  ttl: @options[:ttl], retry_for: @options[:retry_for])
      @receiver.refresh
    end

    # The patterns of the followers' connections on the site (empty before any follower).
    def following_patterns = @receiver ? @receiver.patterns : []

    # The send-only token (replaced when the site forgets it).
    def oneway_token = @token_lock.synchronize { @oneway }

    # Replace the send-only token after the site said it does not know it.
    def reconnect_oneway
      @token_lock.synchronize { @oneway = open_oneway }
    end

    # Call method on transport with retries; an InvalidToken is raised to the caller.
    def call_with_retries(transport, method, params, timeout: 30)
      transport.call_with_retries(method, params, timeout: timeout, retry_for: @options[:retry_for])
    end

    private

    def open_oneway
      @control.call_with_retries("connect_oneway", [@options[:ttl]], timeout: 30,
                                                                      retry_for: @options[:retry_for])
    end

    # Run the block with the send-only token; once more with a new one if the site forgot it.
    def with_oneway
      yield oneway_token
    rescue InvalidToken
      reconnect_oneway
      yield oneway_token
    end
  end
end
