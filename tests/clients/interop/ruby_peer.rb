# frozen_string_literal: true

# The Ruby side of tests/clients/test_interop.py, driven over stdin and stdout.
#
# Follows the prefix's "<p>py:*" (Python's broadcast) and "<p>reply:*" (the
# answers to Node's talk). Prints one line per event:
#   ready                   both followers are served by the site
#   got <JSON message>      a follower received a message
#   sent <n>                "twitter <n>" sent "<p>rb:hello" 0..n-1 and flushed
#   bye                     "quit": closing (the at_exit flush follows)

require "json"
require "berrymq"

$stdout.sync = true
prefix = ENV.fetch("INTEROP_PREFIX")
BerryMQ.connect(ENV.fetch("BERRYMQ_URL"), api_key: ENV.fetch("BERRYMQ_API_KEY"), poll_seconds: 2)
lock = Mutex.new
report = ->(message) { lock.synchronize { puts("got #{JSON.generate(message.to_h)}") } }
BerryMQ.following_function("#{prefix}py:*", &report)
BerryMQ.following_function("#{prefix}reply:*", &report)
lock.synchronize { puts("ready") }

while (line = $stdin.gets)
  command, argument = line.split
  case command
  when "twitter"
    argument.to_i.times { |i| BerryMQ.twitter("#{prefix}rb:hello", i, from: "ruby") }
    BerryMQ.flush
    lock.synchronize { puts("sent #{argument}") }
  when "quit"
    lock.synchronize { puts("bye") }
    break
  end
end
