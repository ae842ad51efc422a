# frozen_string_literal: true

# Site outages, driven by tests/clients/test_ruby.py through stdin and stdout:
#
#   -> "connected"               connected, following "<name>-back:*"; the test stops the site
#   <- "down"
#   -> "unavailable: <message>"  twittered "<id>" 0..19; flush and talk raised
#                                Unavailable after their retries
#   <- "up"                      the test started the site again: it forgot our tokens
#   -> "following again"         the follower got a message twittered in Python after
#                                the restart (the test twitters until then); the sender
#                                delivers the 20 meanwhile
#   <- "down"                    the test stopped the site again
#   -> "exiting <pending>"       twittered "<name>:at-exit" 0..19 and ends; at_exit
#                                waits (flush_timeout) until the test starts the site
#
# Exits 1 with a reason when the client does not behave so.

require "berrymq"

def say(line)
  $stdout.puts(line)
  $stdout.flush
end

def expect(word)
  line = $stdin.gets&.strip
  abort("expected #{word.inspect} on stdin, got #{line.inspect}") unless line == word
end

identifier = ENV.fetch("OUTAGE_IDENTIFIER")
name = identifier.split(":").first
BerryMQ.connect(ENV.fetch("BERRYMQ_URL"), api_key: ENV.fetch("BERRYMQ_API_KEY"),
                retry_for: 1, flush_timeout: 120, poll_seconds: 1)
back = Thread::Queue.new
BerryMQ.following_function("#{name}-back:*") { |message| back << message }
say("connected")

expect("down")
20.times { |i| BerryMQ.twitter(identifier, i) }
begin
  BerryMQ.flush(timeout: 2)
  abort("flush succeeded with the site down")
rescue BerryMQ::Unavailable => e
  flush_error = e.message
end
begin
  BerryMQ.talk("price:quote", "price:quoted", "SKU-1")
  abort("talk succeeded with the site down")
rescue BerryMQ::Unavailable => e
  abort("talk's error does not say it retried: #{e.message}") unless e.message.include?("times")
end
say("unavailable: #{flush_error}")

expect("up")
# The receiver finds its token gone, opens a new connection, and receives again.
deadline = BerryMQ.monotonic + 120
sleep(0.05) while back.empty? && BerryMQ.monotonic < deadline
abort("the follower received nothing after the restart") if back.empty?
say("following again")

expect("down")
20.times { |i| BerryMQ.twitter("#{name}:at-exit", i) }
say("exiting #{BerryMQ.client.pending}")
