# frozen_string_literal: true

module BerryMQ
  # One message as a follower receives it.
  #
  # id        the identifier it was sent with ("order:created")
  # args      its positional arguments (an Array of JSON values)
  # kwargs    its keyword arguments (a Hash with Symbol keys)
  # uid       a String unique across processes and sites (retries keep it)
  # origin    the node that sent it (a site's NODE_NAME, or a client's origin)
  # timestamp when it was sent, in seconds since the epoch (Float)
  # reply_to  for a talk request, the identifier its followers' results go to; else nil
  Message = Struct.new(:id, :args, :kwargs, :uid, :origin, :timestamp, :reply_to,
                       keyword_init: true) do
    # Build a message from its wire form (a Hash with String keys, as JSON gives it).
    def self.from_wire(data)
      new(
        id: data.fetch("id"),
        args: data["args"] || [],
        kwargs: (data["kwargs"] || {}).transform_keys(&:to_sym),
        uid: data["uid"],
        origin: data["origin"],
        timestamp: data["timestamp"],
        reply_to: data["reply_to"]
      )
    end

    # The wire form send_messages takes.
    def to_wire
      { "id" => id, "args" => args, "kwargs" => kwargs, "uid" => uid, "origin" => origin,
        "timestamp" => timestamp }
    end

    def identifier = Identifier.parse(id)
  end
end
