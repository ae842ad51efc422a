# frozen_string_literal: true

module BerryMQ
  # Every error the client raises:
  #
  #   Error < StandardError
  #   ├── AuthenticationError   HTTP 401/403: the key is missing, wrong or not allowed
  #   ├── InvalidToken          a connection token the site does not know (expired, closed,
  #   │                         the site restarted); the client reconnects where it can
  #   ├── Unavailable           the site cannot be reached, or answers -32005, after retries
  #   ├── Empty                 Queue#get / #get_nowait found no message in time
  #   └── RemoteError           any other JSON-RPC error: #code, #message, #data
  class Error < StandardError; end

  # The site refused the credentials (HTTP 401, code -32004) or the caller (HTTP 403, -32003).
  class AuthenticationError < Error
    attr_reader :status

    def initialize(message, status: nil)
      super(message)
      @status = status
    end
  end

  # The site does not know the connection token (error -32000).
  class InvalidToken < Error; end

  # The site did not answer, or answered "unavailable" (-32005, HTTP 503), until the
  # retries ran out. #cause holds the last low-level error when there was one.
  class Unavailable < Error; end

  # No message came before the timeout (Queue#get) or none was waiting (Queue#get_nowait).
  class Empty < Error; end

  # A JSON-RPC error the client has no class for: #code (Integer or nil), #data (or nil).
  class RemoteError < Error
    attr_reader :code, :data

    def initialize(message, code: nil, data: nil)
      super(code ? "#{message} (JSON-RPC error #{code})" : message)
      @code = code
      @data = data
    end
  end
end
