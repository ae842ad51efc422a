# frozen_string_literal: true

require "monitor"

module BerryMQ
  # Brings the site's messages to this process's followers: one thread
  # long-polling one queue connection (connect_via_queue) whose pattern covers
  # every pattern followed here.
  #
  # The connection is opened when the first follower registers. A follower
  # whose pattern the connection does not cover opens a wider one at once (so
  # nothing sent from then on is missed); the thread switches to it when its
  # current poll ends, at most poll_seconds later, then empties and closes the
  # old one. Patterns in different namespaces need one connection each; the
  # thread then polls them in turn, waiting at most a second on each. After a
  # message it takes what else waits on that connection at once, so a backlog
  # drains at the speed of the requests. A message seen twice (in both
  # connections, or sent again) is delivered once, by uid; a message this
  # client twittered itself (its origin) was delivered here when it was sent,
  # so it is skipped. A token the site forgot (expired, or the site restarted)
  # is replaced by a new connection: what was sent in between is lost.
  class Receiver
    SEEN_WINDOW = 10_000 # uids remembered for deduplication

    Connection = Struct.new(:token, :pattern)

    def initialize(client, registry, poll_seconds:, ttl:, retry_for:)
      @client = client
      @registry = registry
      @poll_seconds = poll_seconds
      @ttl = ttl
      @retry_for = retry_for
      @control = client.new_transport # opens and closes connections, from any thread
      @poll = client.new_transport    # the thread's long polls
      @monitor = Monitor.new
      @connections = {} # namespace => Connection
      @retired = []     # Connections to empty and close
      @dirty = false    # a refresh failed: the thread tries again
      @seen = {}        # uid => true, oldest first
      @stopping = false
      @polling = false
      @thread = nil
    end

    # Make the connections cover every pattern followed now; start the thread.
    # Raise AuthenticationError or Unavailable when a connection cannot be opened
    # (the thread keeps trying).
    def refresh
      @monitor.synchronize do
        return if @stopping

        @thread ||= Thread.new { run } # started first: it retries what fails below
        @dirty = true
        @registry.patterns.group_by(&:namespace).each do |namespace, patterns|
          current = @connections[namespace]
          wanted = Identifier.cover(current ? patterns + [current.pattern] : patterns)
          next if current && current.pattern == wanted

          token = @control.call_with_retries("connect_via_queue", [wanted.text, @ttl],
                                             timeout: 30, retry_for: @retry_for)
          @connections[namespace] = Connection.new(token, wanted)
          @retired << current if current
        end
        @dirty = false
      end
    end

    # The patterns of the open connections (for tests and status).
    def patterns
      @monitor.synchronize { @connections.values.map { |c| c.pattern.text } }
    end

    # Stop the thread and close the connections on the site (best effort; not
    # when goodbye is false, as for a site that stopped answering).
    def close(goodbye: true)
      thread = @monitor.synchronize do
        @stopping = true
        # A thread waiting on the site holds nothing but a socket: stop it there.
        @thread&.kill if @polling
        @thread
      end
      thread&.join(5)
      (@connections.values + @retired).each { |c| close_connection(c) } if goodbye
      @poll.reset
      @control.reset
    end

    private

    def run
      delay = 0.05
      until @monitor.synchronize { @stopping }
        begin
          refresh if @monitor.synchronize { @dirty }
          drain_retired
          connections = @monitor.synchronize { @connections.values }
          sleep(0.5) if connections.empty? # its followers were collected before it opened
          wait = connections.size == 1 ? @poll_seconds : 1
          # After a message, take what else waits there at once, then move on.
          connections.each do |connection|
            patience = wait
            patience = 0 while poll(connection, patience) && current?(connection)
          end
          delay = 0.05
        rescue StandardError => e # the thread must outlive any one failure
          warn("berrymq: receiving from #{@poll.uri}: #{e.message}; retrying") if delay >= 1
          sleep(BerryMQ.jitter(delay))
          delay = [delay * 2, 2.0].min
        end
      end
    end

    # Pull one message from connection (waiting up to wait seconds) and deliver it;
    # return whether one came.
    def poll(connection, wait)
      @monitor.synchronize do
        return false if @stopping

        @polling = true
      end
      begin
        data = @poll.call("get", [connection.token, true, wait], timeout: wait + 30)
      rescue Transport::NoMessage
        return false
      rescue InvalidToken
        reopen(connection)
        return false
      ensure
        @monitor.synchronize { @polling = false }
      end
      dispatch(Message.from_wire(data))
      true
    end

    # Whether connection is still one to poll (not replaced by a wider one).
    def current?(connection)
      @monitor.synchronize { @connections.value?(connection) }
    end

    # The site forgot the connection: open a new one for the same pattern.
    def reopen(connection)
      @monitor.synchronize do
        # The default namespace's key is nil: look the entry up, not the key.
        entry = @connections.find { |_, current| current.equal?(connection) } or return
        warn("berrymq: the site forgot the connection for #{connection.pattern}; reconnecting")
        @connections.delete(entry.first)
        @dirty = true
      end
      refresh
    end

    def drain_retired
      retired = @monitor.synchronize { @retired.dup }
      retired.each do |connection|
        loop { dispatch(Message.from_wire(@poll.call("get_nowait", [connection.token], timeout: 30))) }
      rescue Transport::NoMessage, InvalidToken
        close_connection(connection)
        @monitor.synchronize { @retired.delete(connection) }
      end
    end

    def close_connection(connection)
      @control.call("close_connection", [connection.token], timeout: 5)
    rescue Error
      nil # it expires on its own after ttl
    end

    def dispatch(message)
      return if message.origin == @client.origin
      return unless first_sight?(message.uid)

      results = @registry.deliver(message)
      return unless message.reply_to

      # A talk request: each result goes to the reply identifier, as on the site.
      results.each { |result| @client.twitter(message.reply_to, result, in_reply_to: message.uid) }
    end

    def first_sight?(uid)
      return true if uid.nil?
      return false if @seen.key?(uid)

      @seen[uid] = true
      @seen.shift if @seen.size > SEEN_WINDOW
      true
    end
  end
end
