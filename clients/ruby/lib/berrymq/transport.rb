# frozen_string_literal: true

require "json"
require "openssl"
require "net/http"
require "uri"

module BerryMQ
  # JSON-RPC 2.0 calls to one site over one persistent HTTP connection.
  #
  # A Transport is used by one thread at a time (its calls are serialised by a
  # mutex): the client gives the sender, the follower poller and each Queue one of
  # their own, so a long poll never holds up a send. #call makes one attempt;
  # #call_with_retries retries what is transient (connection refused or reset,
  # HTTP 503/429, error -32005) with exponential backoff until a deadline, then
  # raises Unavailable.
  class Transport
    # Errors of the connection itself: the site is down, restarting or unreachable.
    NETWORK_ERRORS = [
      Errno::ECONNREFUSED, Errno::ECONNRESET, Errno::EPIPE, Errno::EHOSTUNREACH,
      Errno::ENETUNREACH, Errno::ECONNABORTED, Errno::ETIMEDOUT, Errno::EADDRNOTAVAIL,
      EOFError, IOError, SocketError, Net::OpenTimeout, Net::ReadTimeout, Net::WriteTimeout,
      OpenSSL::SSL::SSLError
    ].freeze
    # Errors after which the site cannot have run the call: safe to retry anything.
    NOT_SENT = [Errno::ECONNREFUSED, Errno::EHOSTUNREACH, Errno::ENETUNREACH,
                Errno::EADDRNOTAVAIL, SocketError, Net::OpenTimeout].freeze

    INVALID_TOKEN = -32_000
    TIMEOUT = -32_001
    UNAVAILABLE = -32_005
    THROTTLED = -32_029

    # A transient failure: raised by #call, retried by #call_with_retries.
    class Transient < Unavailable
      attr_reader :retry_after

      def initialize(message, sent:, retry_after: nil)
        super(message)
        @sent = sent
        @retry_after = retry_after
      end

      # Whether the site may have received (and run) the call.
      def sent? = @sent
    end

    # The site answered "timeout": no message came (get, get_nowait).
    class NoMessage < Error; end

    attr_reader :uri

    # url: the endpoint ("http://host/berrymq/rpc/"); api_key: sent as a Bearer token.
    def initialize(url, api_key:, open_timeout: 5.0)
      @uri = begin
        URI.parse(url)
      rescue URI::InvalidURIError, TypeError
        nil
      end
      unless @uri.is_a?(URI::HTTP) && @uri.host
        raise ArgumentError, "BerryMQ endpoint must be an http(s) URL, not #{url.inspect}"
      end
      @api_key = api_key
      @open_timeout = open_timeout
      @mutex = Mutex.new
      @http = nil
      @ids = 0
    end

    # Call method with params (an Array or a Hash); wait at most timeout seconds for
    # the answer. Return the result; raise Transient, AuthenticationError,
    # InvalidToken, NoMessage or RemoteError.
    def call(method, params, timeout:)
      @mutex.synchronize do
        body = JSON.generate({ "jsonrpc" => "2.0", "id" => (@ids += 1), "method" => method,
                               "params" => params })
        answer(method, post(body, timeout))
      end
    end

    # #call, retrying transient failures with backoff (a random wait up to 0.05 s,
    # doubling to 2 s; Retry-After when the site gives one) until
    # retry_for seconds have passed; then raise Unavailable with the last failure as
    # its cause. With idempotent false, retry only failures where nothing was sent.
    def call_with_retries(method, params, timeout:, retry_for:, idempotent: true)
      deadline = BerryMQ.monotonic + retry_for
      delay = 0.05
      attempts = 0
      begin
        attempts += 1
        call(method, params, timeout: timeout)
      rescue Transient => e
        raise Unavailable, "#{method} failed: #{e.message}" if e.sent? && !idempotent

        pause = e.retry_after || BerryMQ.jitter(delay)
        if BerryMQ.monotonic + pause > deadline
          raise Unavailable, "#{@uri} is unavailable: #{method} failed #{attempts} times " \
                             "over #{retry_for} s; last: #{e.message}"
        end
        sleep(pause)
        delay = [delay * 2, 2.0].min
        retry
      end
    end

    # Drop the HTTP connection (the next call opens a new one).
    def reset
      @mutex.synchronize { drop }
    end

    private

    def post(body, timeout)
      http = (@http ||= start)
      http.read_timeout = timeout
      request = Net::HTTP::Post.new(@uri.request_uri, headers)
      request.body = body
      http.request(request)
    rescue *NETWORK_ERRORS => e
      drop
      raise Transient.new("#{e.class}: #{e.message}", sent: !NOT_SENT.any? { |k| e.is_a?(k) })
    end

    def start
      http = Net::HTTP.new(@uri.host, @uri.port)
      http.use_ssl = @uri.scheme == "https"
      http.open_timeout = @open_timeout
      http.write_timeout = 30
      http.keep_alive_timeout = 30
      http.start
    end

    def drop
      http = @http
      @http = nil
      http&.finish if http&.started?
    rescue IOError
      nil
    end

    def headers
      { "Content-Type" => "application/json", "Accept" => "application/json",
        "Authorization" => "Bearer #{@api_key}", "User-Agent" => "berrymq-ruby/#{VERSION}" }
    end

    def answer(method, response)
      code = response.code.to_i
      data = parse(response.body)
      error = data.is_a?(Hash) ? data["error"] : nil
      if [401, 403].include?(code)
        why = error.is_a?(Hash) ? error["message"] : response.body.to_s[0, 200]
        raise AuthenticationError.new("#{@uri} refused the API key (HTTP #{code}): #{why}",
                                      status: code)
      end
      # The protocol's retry rule: 429, any 5xx and an answer that is not JSON-RPC are
      # transient (the call may have run, except behind a 503 or 429).
      if code == 429 || code >= 500
        why = error.is_a?(Hash) ? "#{error["message"]} (JSON-RPC error #{error["code"]}, " : "("
        raise Transient.new("#{why}HTTP #{code})", sent: code != 503 && code != 429,
                                                   retry_after: retry_after(response))
      end
      unless data.is_a?(Hash) && (data.key?("result") || error)
        said = "#{@uri} did not answer #{method} with JSON-RPC (HTTP #{code}): " \
               "#{response.body.to_s[0, 200]}"
        # A 4xx page is the address being wrong, not the site being down: no retry mends it.
        raise Error, "#{said} Is the url the site's berryMQ endpoint (.../berrymq/rpc/)?" if code >= 400

        raise Transient.new(said, sent: true)
      end
      raise_error(error) if error
      data["result"]
    end

    def parse(body)
      JSON.parse(body.to_s)
    rescue JSON::ParserError
      nil
    end

    def retry_after(response)
      value = response["Retry-After"]
      value&.match?(/\A\d+(\.\d+)?\z/) ? value.to_f : nil
    end

    def raise_error(error)
      code = error["code"]
      message = error["message"].to_s
      case code
      when INVALID_TOKEN then raise InvalidToken, "#{@uri}: #{message}"
      when TIMEOUT then raise NoMessage, message
      when UNAVAILABLE, THROTTLED
        raise Transient.new("#{message} (JSON-RPC error #{code})", sent: false)
      else raise RemoteError.new(message, code: code, data: error["data"])
      end
    end
  end
end
