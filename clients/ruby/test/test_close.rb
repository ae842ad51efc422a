# frozen_string_literal: true

require "socket"
require_relative "test_helper"

# close (and so the end of the program) on a site that stops answering: it waits
# flush_timeout for the messages, then goes, without waiting on the site again.
class TestCloseOnAFrozenSite < Minitest::Test
  # Answers connect_oneway, then reads every request and answers none: a site that hangs.
  class FrozenSite
    attr_reader :url

    def initialize
      @server = TCPServer.new("127.0.0.1", 0)
      @url = "http://127.0.0.1:#{@server.addr[1]}/berrymq/rpc/"
      @sockets = []
      @thread = Thread.new { loop { serve(@server.accept) } }
    end

    def stop
      @thread.kill
      (@sockets + [@server]).each(&:close)
    end

    private

    def serve(socket)
      @sockets << socket
      Thread.new do
        while (body = read_request(socket))
          next unless body.include?("connect_oneway")

          answer = JSON.generate({ jsonrpc: "2.0", id: JSON.parse(body)["id"], result: "frozen-token" })
          socket.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" \
                       "Content-Length: #{answer.bytesize}\r\n\r\n#{answer}")
        end
      rescue IOError, SystemCallError
        nil
      end
    end

    def read_request(socket)
      length = 0
      while (line = socket.gets) && line != "\r\n"
        length = line.split(":", 2)[1].to_i if line.downcase.start_with?("content-length:")
      end
      line && socket.read(length)
    end
  end

  def test_close_gives_up_after_flush_timeout_instead_of_waiting_on_the_site
    site = FrozenSite.new
    client = BerryMQ::Client.new(site.url, api_key: "frozen-key", flush_timeout: 1)
    client.twitter("frozen:a", 1)
    started = BerryMQ.monotonic
    _out, err = capture_io { client.close }
    # Before, close waited on the stuck sender and said goodbye to the silent site,
    # 5 s per call, on top of flush_timeout: at least 11 s here.
    assert_operator BerryMQ.monotonic - started, :<, 8, "close kept waiting on a site that does not answer"
    assert_includes err, "1 messages not sent"
  ensure
    site&.stop
  end
end
