# frozen_string_literal: true

require "net/http"
require "socket"

# An HTTP proxy in front of the site that loses answers on purpose: the request
# reaches the site and runs, but the client's connection is closed instead of
# the answer, as when a network drops a reply. lose(n, matching:) loses the
# next n answers to requests whose body matches.
class LossyProxy
  attr_reader :url, :lost

  def initialize(target)
    @target = URI(target)
    @server = TCPServer.new("127.0.0.1", 0)
    @url = "http://127.0.0.1:#{@server.addr[1]}#{@target.path}"
    @rules = []
    @lost = 0
    @lock = Mutex.new
    @thread = Thread.new { loop { serve(@server.accept) } rescue IOError }
  end

  def lose(count, matching:)
    @lock.synchronize { @rules << [count, matching] }
  end

  def close
    @server.close
    @thread.join(5)
  end

  private

  def serve(socket)
    Thread.new do
      Net::HTTP.start(@target.host, @target.port) do |http|
        while (request = read_request(socket))
          response = http.request(request)
          break if losing?(request.body)

          write_response(socket, response)
        end
      end
    rescue IOError, SystemCallError
      nil
    ensure
      socket.close
    end
  end

  def losing?(body)
    @lock.synchronize do
      rule = @rules.find { |count, pattern| count.positive? && body.match?(pattern) }
      return false unless rule

      rule[0] -= 1
      @lost += 1
      true
    end
  end

  def read_request(socket)
    line = socket.gets or return nil
    verb, path, = line.split
    headers = {}
    while (header = socket.gets) && header != "\r\n"
      name, value = header.split(":", 2)
      headers[name.strip] = value.strip
    end
    request = Net::HTTPGenericRequest.new(verb, true, true, path, headers)
    request.body = socket.read(headers.fetch("Content-Length", "0").to_i)
    request
  end

  def write_response(socket, response)
    body = response.body.to_s
    socket.write("HTTP/1.1 #{response.code} #{response.message}\r\n")
    response.each_header do |name, value|
      socket.write("#{name}: #{value}\r\n") unless %w[content-length transfer-encoding connection].include?(name)
    end
    socket.write("Content-Length: #{body.bytesize}\r\n\r\n#{body}")
  end
end
