# frozen_string_literal: true

require "monitor"
require "weakref"

module BerryMQ
  # The followers of this process and the local delivery of messages to them.
  #
  # A subscription is a pattern and a target: a block (held strongly) or an
  # object's method (held by WeakRef: a collected object stops receiving).
  # Every change bumps #version and tells the listeners (the follower poller
  # widens its queue connection); delivery reads a snapshot, so a follower may
  # register or unregister others while it runs.
  class Registry
    Subscription = Struct.new(:pattern, :target, :method_name) do
      def alive? = method_name.nil? || target.weakref_alive?

      def call(message)
        method_name ? target.__send__(method_name, message) : target.call(message)
      end

      def owner
        method_name ? target.__getobj__ : target
      rescue WeakRef::RefError
        nil
      end
    end

    # on_error: called with (exception, message) when a follower raises.
    attr_accessor :on_error

    def initialize
      @monitor = Monitor.new
      @subscriptions = [].freeze # replaced, never changed: readers take it without the lock
      @listeners = []
      @on_error = lambda do |error, message|
        warn("berrymq: a follower of #{message.id} raised #{error.class}: #{error.message}")
      end
    end

    # Follow pattern with a block; return the block (for #unregister).
    def add_function(pattern, block)
      add(Subscription.new(Identifier.parse(pattern), block, nil))
      block
    end

    # Follow pattern with object.method_name(message); the object is held weakly.
    def add_method(pattern, object, method_name)
      add(Subscription.new(Identifier.parse(pattern), WeakRef.new(object), method_name))
      object
    end

    # Stop a block or every method of an object following; return whether any did.
    def unregister(target)
      @monitor.synchronize do
        kept = @subscriptions.reject { |s| s.owner.equal?(target) }
        removed = kept.size != @subscriptions.size
        @subscriptions = kept.freeze
        removed
      end
    end

    # The patterns followed now (live subscriptions only), without duplicates.
    def patterns
      @subscriptions.select(&:alive?).map(&:pattern).uniq
    end

    # Call listener.call whenever a follower is added.
    def listen(&listener)
      @monitor.synchronize { @listeners << listener }
    end

    # Deliver message to each matching follower, in registration order; return the
    # results of those that ran. A follower that raises goes to on_error.
    def deliver(message)
      subscriptions = @subscriptions
      ident = Identifier.parse(message.id)
      results = []
      dead = false
      subscriptions.each do |sub|
        next unless sub.pattern.match?(ident)

        begin
          results << sub.call(message)
        rescue WeakRef::RefError
          dead = true
        rescue StandardError => e
          on_error&.call(e, message)
        end
      end
      prune if dead
      results
    end

    # Forget every follower (for tests).
    def clear
      @monitor.synchronize { @subscriptions = [].freeze }
    end

    private

    def add(subscription)
      listeners = @monitor.synchronize do
        @subscriptions = (@subscriptions.select(&:alive?) << subscription).freeze
        @listeners.dup
      end
      listeners.each(&:call)
    end

    def prune
      @monitor.synchronize { @subscriptions = @subscriptions.select(&:alive?).freeze }
    end
  end
end
