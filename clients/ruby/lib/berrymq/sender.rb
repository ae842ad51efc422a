# frozen_string_literal: true

require "monitor"

module BerryMQ
  # Sends twittered messages to the site in batches, on one background thread.
  #
  # #push only appends to a buffer; the thread sends whatever has gathered
  # (up to batch_size messages) in one send_messages call, so messages
  # twittered while a call is in flight travel together in the next. A
  # transient failure (site down, restarting, -32005) keeps the batch and
  # retries it with backoff (full jitter, up to 0.05 s doubling to 2 s, or the
  # site's Retry-After) for as long as the client
  # is open; each message keeps its uid, so a batch the site had already taken
  # is acknowledged as duplicates, not delivered twice. An unknown token
  # (expired, or the site restarted) is replaced and the batch sent again. A
  # batch past a limit of the site's (-32010) goes in halves; a message the
  # site refuses (-32602 naming its index) is dropped and the rest resent;
  # any other error drops the batch, with a warning on $stderr.
  # Messages stay in order. #flush waits until everything is sent.
  class Sender
    LIMIT_EXCEEDED = -32_010

    def initialize(client, transport, batch_size:)
      @client = client
      @transport = transport
      @batch_size = batch_size
      @monitor = Monitor.new
      @changed = @monitor.new_cond
      @stop = @monitor.new_cond # backoff waits on this one: new messages do not cut it short
      @buffer = []      # messages not yet taken by the thread
      @in_flight = 0    # messages the thread is sending now
      @last_error = nil # the last failure, while messages wait on it
      @stopping = false
      @thread = nil
    end

    # Queue a message (its wire Hash) for sending.
    def push(wire)
      @monitor.synchronize do
        raise Error, "the BerryMQ client is closed" if @stopping

        @buffer << wire
        @thread ||= Thread.new { run }
        @changed.broadcast
      end
    end

    # Messages not yet acknowledged by the site.
    def pending
      @monitor.synchronize { @buffer.size + @in_flight }
    end

    # Wait until every message pushed so far is sent. Raise Unavailable (with the
    # last failure) when some are still waiting after timeout seconds.
    def flush(timeout)
      deadline = BerryMQ.monotonic + timeout
      @monitor.synchronize do
        until @buffer.empty? && @in_flight.zero?
          left = deadline - BerryMQ.monotonic
          if left <= 0
            raise Unavailable, "#{@buffer.size + @in_flight} messages not sent to " \
                               "#{@transport.uri} after #{timeout} s: #{@last_error&.message}"
          end
          @changed.wait(left)
        end
      end
    end

    # Flush for at most timeout seconds, then stop the thread. Return how many
    # messages were left unsent (and say so on $stderr). A thread still waiting on
    # the site a second later is stopped there: its messages are reported unsent.
    def close(timeout)
      begin
        flush(timeout)
      rescue Unavailable => e
        warn("berrymq: #{e.message}")
      end
      @monitor.synchronize do
        @stopping = true
        @changed.broadcast
        @stop.broadcast
      end
      @thread&.kill unless @thread.nil? || @thread.join(1)
      pending
    end

    private

    def run
      loop do
        batch = take or break
        deliver(batch)
        @monitor.synchronize do
          @in_flight = 0
          @changed.broadcast
        end
      end
    end

    def take
      @monitor.synchronize do
        @changed.wait while @buffer.empty? && !@stopping
        return nil if @buffer.empty?

        batch = @buffer.shift(@batch_size)
        @in_flight = batch.size
        batch
      end
    end

    # Send batch until the site takes it or the client stops.
    def deliver(batch)
      delay = 0.05
      until batch.empty?
        begin
          @transport.call("send_messages", [@client.oneway_token, batch], timeout: 30)
          @monitor.synchronize { @last_error = nil }
          return
        rescue Transport::Transient => e
          return unless backoff(e, e.retry_after || BerryMQ.jitter(delay))

          delay = [delay * 2, 2.0].min
        rescue InvalidToken
          @client.reconnect_oneway
        rescue AuthenticationError, Unavailable => e
          # Includes a failed reconnect: the site is down or refuses us; wait and retry.
          return unless backoff(e, [delay, 1.0].max)
        rescue RemoteError => e
          return split(batch) if e.code == LIMIT_EXCEEDED && batch.size > 1

          batch = drop_bad(batch, e)
        rescue StandardError => e # never leave flush waiting on a dead thread
          warn("berrymq: #{batch.size} messages dropped: #{e.class}: #{e.message}")
          return
        end
      end
    end

    # Remember error and wait delay seconds; false when the client stops meanwhile.
    def backoff(error, delay)
      @monitor.synchronize do
        @last_error = error
        @changed.broadcast
        return false if @stopping

        @stop.wait(delay)
        !@stopping
      end
    end

    # The batch passed a limit of the site's (-32010: too many messages, or too many
    # bytes): send it in halves, in order.
    def split(batch)
      half = batch.size / 2
      deliver(batch[0...half])
      deliver(batch[half..])
    end

    # The site refused the batch: drop the message it named (or the batch) and warn.
    def drop_bad(batch, error)
      index = error.data.is_a?(Hash) ? error.data["index"] : nil
      if index.is_a?(Integer) && index < batch.size
        warn("berrymq: the site refused #{batch[index]["id"]}, dropped: #{error.message}")
        return batch[0...index] + batch[(index + 1)..]
      end
      warn("berrymq: the site refused #{batch.size} messages, dropped: #{error.message}")
      []
    end
  end
end
