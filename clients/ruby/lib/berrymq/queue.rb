# frozen_string_literal: true

module BerryMQ
  # A queue kept on the site for this process to pull (style 03, connect_via_queue).
  #
  #   jobs = BerryMQ::Queue.new("task:*")
  #   jobs.get(timeout: 5)   # the oldest message, waiting up to 5 s; Empty if none came
  #   jobs.get_nowait        # the oldest message, or Empty at once
  #   jobs.close
  #
  # It collects every matching message from when it is created, this process's
  # own included, at most the site's QUEUE_MAXSIZE (oldest dropped first), and
  # each message is taken once. get waits on the site (long poll, in slices of
  # the site's MAX_POLL_SECONDS). A queue not pulled for ttl seconds expires on
  # the site; the next get opens a new one (what came in between is lost).
  class Queue
    attr_reader :pattern

    # pattern: an identifier; client: a connected BerryMQ::Client (the default one).
    def initialize(pattern, client: BerryMQ.client, ttl: 600)
      @pattern = Identifier.parse(pattern).text
      @client = client
      @ttl = ttl
      @transport = client.new_transport
      @token = open
    end

    # Return the oldest message, waiting at most timeout seconds (nil: forever).
    # Raise Empty when none came, Unavailable when the site cannot be reached.
    def get(timeout: nil)
      unless timeout.nil? || (timeout.is_a?(Numeric) && timeout >= 0)
        raise ArgumentError, "timeout must be nil or a number >= 0, not #{timeout.inspect}"
      end

      deadline = timeout && (BerryMQ.monotonic + timeout)
      loop do
        wait = deadline ? [deadline - BerryMQ.monotonic, 0].max : 20.0
        begin
          return pull("get", [@token, true, wait], wait + 30)
        rescue Transport::NoMessage
          raise Empty, "no message for #{@pattern} in #{timeout} s" if deadline && BerryMQ.monotonic >= deadline
        end
      end
    end

    # Return the oldest message at once; raise Empty when there is none.
    def get_nowait
      pull("get_nowait", [@token], 30)
    rescue Transport::NoMessage
      raise Empty, "no message for #{@pattern}"
    end

    # Close the queue on the site; later calls raise Error.
    def close
      token = @token
      @token = nil
      @transport.call("close_connection", [token], timeout: 5) if token
    rescue Error
      nil
    ensure
      @transport.reset
    end

    def closed? = @token.nil?

    private

    def open
      @client.call_with_retries(@transport, "connect_via_queue", [@pattern, @ttl])
    end

    def pull(method, params, timeout)
      raise Error, "the queue for #{@pattern} is closed" if closed?

      data = begin
        @client.call_with_retries(@transport, method, params, timeout: timeout)
      rescue InvalidToken
        warn("berrymq: the site forgot the queue for #{@pattern}; opening a new one")
        @token = open
        params[0] = @token
        retry
      end
      Message.from_wire(data)
    end
  end
end
