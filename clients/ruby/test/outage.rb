# frozen_string_literal: true

# A site outage, driven by tests/clients/test_ruby.py through stdin and stdout:
#
#   -> "connected"                    the client is connected; the test stops the site
#   <- "down"
#   -> "unavailable: <message>"       twitter buffered 20 messages; flush and talk
#                                     raised Unavailable after their retries
#   <- "up"                           the test started the site again (it forgot our tokens)
#   -> "following again"              the follower of "<identifier's name>-back:*" got a
#                                     message twittered in Python after the restart (the
#                                     test twitters until then)
#   -> "exiting <pending>"            then at_exit delivers the 20 messages
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
BerryMQ.connect(ENV.fetch("BERRYMQ_URL"), api_key: ENV.fetch("BERRYMQ_API_KEY"),
                retry_for: 1, flush_timeout: 60, poll_seconds: 1)
back = Thread::Queue.new
BerryMQ.following_function("#{identifier.split(":").first}-back:*") { |message| back << message }
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
say("exiting #{BerryMQ.client.pending}")
