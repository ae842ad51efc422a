# frozen_string_literal: true

module BerryMQ
  # Make a class's methods followers, berryMQ's way:
  #
  #   class Logger
  #     include BerryMQ::Follower
  #     following("*:log")
  #     def receive_log(message) = puts(message.args.inspect)
  #   end
  #   logger = Logger.new   # from now on, receive_log gets every "*:log" message
  #
  # following(pattern) marks the next method defined. Each instance is
  # registered when it is created (after its initialize) and held weakly: once
  # it is garbage-collected it stops receiving. Subclasses inherit the marks.
  module Follower
    def self.included(base)
      base.extend(ClassMethods)
      base.prepend(Registration)
    end

    # The class-level half: following and the bookkeeping of marked methods.
    module ClassMethods
      # Mark the next method defined as a follower of pattern (a String identifier).
      def following(pattern)
        @berrymq_next = Identifier.parse(pattern)
      end

      # [[Identifier, method name]] of this class and its ancestors.
      def berrymq_followings
        inherited = superclass.respond_to?(:berrymq_followings) ? superclass.berrymq_followings : []
        inherited + (@berrymq_followings || [])
      end

      def method_added(name)
        super
        pattern = @berrymq_next
        return unless pattern

        @berrymq_next = nil
        (@berrymq_followings ||= []) << [pattern, name]
      end
    end

    # Registers each new instance's marked methods.
    module Registration
      def initialize(...)
        super
        return if @berrymq_registered # a subclass that includes Follower again

        @berrymq_registered = true
        self.class.berrymq_followings.each do |pattern, name|
          BerryMQ.registry.add_method(pattern, self, name)
        end
      end
    end
  end
end
