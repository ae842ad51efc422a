# frozen_string_literal: true

# A Ruby client for berrymq_django's JSON-RPC endpoint, with berryMQ's Ruby API.
#
#   require "berrymq"
#   BerryMQ.connect("http://127.0.0.1:8000/berrymq/rpc/", api_key: ENV["BERRYMQ_API_KEY"])
#   BerryMQ.following_function("order:*") { |message| p message.args }
#   BerryMQ.twitter("app:log", "hello", level: "info")
#
# Standard library only. See clients/ruby/README.md.

require "json"
require "securerandom"

require_relative "berrymq/version"
require_relative "berrymq/errors"
require_relative "berrymq/identifier"
require_relative "berrymq/message"
require_relative "berrymq/transport"
require_relative "berrymq/registry"
require_relative "berrymq/follower"
require_relative "berrymq/sender"
require_relative "berrymq/receiver"
require_relative "berrymq/client"
require_relative "berrymq/queue"

# berryMQ: twitter messages, follow them, pull them from queues, talk to followers.
module BerryMQ
  @registry = Registry.new
  @client = nil
  @lock = Mutex.new

  class << self
    # This process's followers (see Registry).
    attr_reader :registry

    # Connect the default client to url (a site's berrymq/rpc/ endpoint) with
    # api_key; options as for Client. Followers registered before or after start
    # receiving; twitter sends to the site. Unsent messages are flushed when the
    # program exits. Raise AuthenticationError or Unavailable. Return the Client.
    def connect(url, api_key:, **options)
      client = Client.new(url, api_key: api_key, **options)
      previous = @lock.synchronize do
        old = @client
        @client = client
        old
      end
      previous&.close
      install_at_exit
      client.follow! unless registry.patterns.empty?
      client
    end

    # The default client; raise Error before connect.
    def client
      @client or raise Error, "not connected: call BerryMQ.connect(url, api_key: ...) first"
    end

    def connected? = !@client.nil?

    # Send identifier(*args, **kwargs) to this process's followers and, when
    # connected, to the site. Return the Message. Raise ArgumentError for a bad
    # identifier or arguments JSON cannot carry.
    def twitter(identifier, *args, **kwargs)
      client = @client
      return client.twitter(identifier, *args, **kwargs) if client

      message = build_message(identifier, args, kwargs, "ruby")
      registry.deliver(message)
      message
    end

    # Follow pattern with the block, which receives each matching Message;
    # return the block (for unregister).
    def following_function(pattern, &block)
      raise ArgumentError, "following_function needs a block" unless block

      registry.add_function(pattern, block)
    end

    # Stop a block or an object's methods following; return whether any did.
    def unregister(target) = registry.unregister(target)

    # Call the followers of identifier on the site; see Client#talk.
    def talk(identifier, reply_pattern, *args, **kwargs)
      client.talk(identifier, reply_pattern, *args, **kwargs)
    end

    # Wait until every twittered message is sent; see Client#flush.
    def flush(**options) = client.flush(**options)

    # Flush and close the default client (a no-op when not connected).
    def close(**options)
      client = @lock.synchronize do
        old = @client
        @client = nil
        old
      end
      client&.close(**options)
    end

    # A backoff wait with full jitter: a random number of seconds up to cap.
    def jitter(cap) = rand * cap

    # Seconds on a clock that never jumps.
    def monotonic = Process.clock_gettime(Process::CLOCK_MONOTONIC)

    # Build a Message to send: validated identifier, JSON-safe arguments, a fresh uid.
    def build_message(identifier, args, kwargs, origin)
      ident = Identifier.parse(identifier)
      encodable!(args, kwargs)
      Message.new(id: ident.text, args: args, kwargs: kwargs, uid: SecureRandom.uuid,
                  origin: origin, timestamp: Time.now.to_f, reply_to: nil)
    end

    # Raise ArgumentError unless JSON can carry args and kwargs as they are: hashes,
    # arrays, strings (symbols become strings), numbers, true, false and nil. Other
    # objects would travel as their to_s, which no follower could take for them.
    def encodable!(args, kwargs)
      plain_json!(args, "args")
      plain_json!(kwargs, "kwargs")
      JSON.generate([args, kwargs])
    rescue JSON::GeneratorError, Encoding::UndefinedConversionError => e
      raise ArgumentError, "berryMQ messages travel as JSON, which cannot carry these " \
                           "arguments: #{e.message}"
    end

    JSON_SCALARS = [String, Symbol, Integer, Float, TrueClass, FalseClass, NilClass].freeze

    # Raise ArgumentError naming the first value under where that is no JSON value.
    def plain_json!(value, where)
      case value
      when Hash
        value.each do |key, item|
          unless key.is_a?(String) || key.is_a?(Symbol)
            raise ArgumentError, "berryMQ messages travel as JSON, whose object keys are " \
                                 "strings: #{where} has the key #{key.inspect} (#{key.class})"
          end
          plain_json!(item, "#{where}[#{key.inspect}]")
        end
      when Array then value.each_with_index { |item, index| plain_json!(item, "#{where}[#{index}]") }
      when *JSON_SCALARS then nil
      else
        raise ArgumentError, "berryMQ messages travel as JSON, which cannot carry " \
                             "#{where} = #{value.inspect[0, 80]} (#{value.class})"
      end
    end

    private

    def install_at_exit
      return if @at_exit

      @at_exit = true
      at_exit { close }
    end
  end

  registry.listen do
    client = @client
    begin
      client&.follow!
    rescue Error => e
      warn("berrymq: cannot follow on the site yet (#{e.message}); retrying in the background")
    end
  end
end
