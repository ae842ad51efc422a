# frozen_string_literal: true

module BerryMQ
  # A parsed identifier, "name[@namespace][:action]", as the site reads it.
  #
  # A "*" on either side matches anything: a follower of "order:*" receives
  # "order:created", and a follower of "*:log" receives "app:log". A bare name
  # ("order") means "order:*". Namespaces never match across: "order@eu:created"
  # reaches only patterns in "@eu". A name starting with "_" is local to the
  # site and cannot be sent to it.
  class Identifier
    WILDCARD = "*"

    attr_reader :name, :action, :namespace, :text

    # Parse text; raise ArgumentError naming it when it is empty, holds whitespace, an
    # empty part, or more than one ":" or "@", and TypeError when it is not a String.
    def self.parse(text)
      return text if text.is_a?(Identifier)
      unless text.is_a?(String)
        raise TypeError, "A berryMQ identifier must be a String like \"name:action\", " \
                         "not #{text.class} (#{text.inspect})"
      end
      new(*split(text))
    end

    def self.split(text)
      bad = ->(why) { raise ArgumentError, "Invalid berryMQ identifier #{text.inspect}: #{why}" }
      bad.call("it is empty; use \"name:action\"") if text.empty?
      bad.call("it contains whitespace") if text.match?(/\s/)
      bad.call("more than one ':'") if text.count(":") > 1
      bad.call("more than one '@'") if text.count("@") > 1
      head, colon, action = text.partition(":")
      if colon.empty?
        action = WILDCARD
      elsif action.empty?
        bad.call("the action after ':' is empty")
      elsif action.include?("@")
        bad.call("the namespace goes before ':' as in \"name@namespace:action\"")
      end
      name, at, namespace = head.partition("@")
      bad.call("the name is empty") if name.empty?
      bad.call("the namespace after '@' is empty") if !at.empty? && namespace.empty?
      [name, action, at.empty? ? nil : namespace]
    end
    private_class_method :split

    def initialize(name, action, namespace = nil)
      @name = name
      @action = action
      @namespace = namespace
      @text = "#{name}#{namespace ? "@#{namespace}" : ""}:#{action}".freeze
      freeze
    end

    # Whether self and other (an Identifier or a String) select each other.
    def match?(other)
      other = Identifier.parse(other)
      namespace == other.namespace &&
        (name == other.name || name == WILDCARD || other.name == WILDCARD) &&
        (action == other.action || action == WILDCARD || other.action == WILDCARD)
    end

    def local?
      name.start_with?("_")
    end

    # The narrowest single pattern that matches everything each of patterns matches,
    # all in one namespace: "order:created" and "order:paid" give "order:*".
    def self.cover(patterns)
      names = patterns.map(&:name).uniq
      actions = patterns.map(&:action).uniq
      name = names.size == 1 ? names.first : WILDCARD
      action = actions.size == 1 ? actions.first : WILDCARD
      new(name, action, patterns.first.namespace)
    end

    def to_s = text
    def inspect = "#<BerryMQ::Identifier #{text}>"
    def ==(other) = other.is_a?(Identifier) && text == other.text
    alias eql? ==
    def hash = text.hash
  end
end
