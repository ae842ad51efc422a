# frozen_string_literal: true

# Shared by the tests: the live site they run against, and small helpers.
#
# The site is a berrymq_django test site (tests/clients/ in the repository,
# clients_site in its conftest.py) started by tests/clients/test_ruby.py, which passes:
#   BERRYMQ_URL      its JSON-RPC endpoint
#   BERRYMQ_API_KEY  a key it accepts
#   BERRYMQ_SITE     its base URL, where /send/ twitters in Python and
#                    /received/ lists what its Python "*:*" follower got
# Without them, only the tests that need no site run.

require "json"
require "net/http"
require "rbconfig"
require "securerandom"
require "minitest/autorun"
require "berrymq"

module SiteHelpers
  URL = ENV.fetch("BERRYMQ_URL", nil)
  API_KEY = ENV.fetch("BERRYMQ_API_KEY", nil)
  SITE = ENV.fetch("BERRYMQ_SITE", nil)
  LIB = File.expand_path("../lib", __dir__)

  def require_site!
    skip "no live site: set BERRYMQ_URL, BERRYMQ_API_KEY and BERRYMQ_SITE" unless URL && API_KEY && SITE
    return if BerryMQ.connected?

    # A short poll, so that a follower added mid-run is served within a second or two.
    BerryMQ.connect(URL, api_key: API_KEY, poll_seconds: 1)
  end

  # A fresh identifier name, so that no two tests see each other's messages.
  def fresh(name)
    "#{name}#{SecureRandom.hex(4)}"
  end

  # Twitter identifier count times in Python, on the site: the args of each are
  # [i, *args] for i from 0 (the site's /send/ numbers the messages it sends).
  def python_twitter(identifier, args = [], kwargs = {}, count: 1)
    body = JSON.generate({ id: identifier, args: args, kwargs: kwargs, count: count })
    response = Net::HTTP.post(URI("#{SITE}/send/"), body, "Content-Type" => "application/json")
    assert_equal "200", response.code, response.body
  end

  # What the site's Python "*:*" follower received with identifier, oldest first.
  def python_received(identifier)
    query = URI.encode_www_form(id: identifier)
    JSON.parse(Net::HTTP.get(URI("#{SITE}/received/?#{query}"))).fetch("received")
  end

  # Call the block until it returns a truthy value; fail after timeout seconds.
  def eventually(what, timeout: 30, interval: 0.05)
    deadline = BerryMQ.monotonic + timeout
    loop do
      value = yield
      return value if value
      flunk("timed out after #{timeout} s waiting for #{what}") if BerryMQ.monotonic > deadline
      sleep(interval)
    end
  end

  # Watch a moment that nothing more arrives (nothing announces that no more will come).
  def settle(seconds = 1.5)
    sleep(seconds)
  end

  # Run a Ruby script with the client on its load path; return [output, status].
  def run_ruby(script, env = {})
    read, write = IO.pipe
    pid = Process.spawn({ "BERRYMQ_URL" => URL, "BERRYMQ_API_KEY" => API_KEY }.merge(env),
                        RbConfig.ruby, "-I#{LIB}", "-e", script, out: write, err: write)
    write.close
    output = read.read
    _, status = Process.wait2(pid)
    [output, status]
  ensure
    read&.close
  end
end
