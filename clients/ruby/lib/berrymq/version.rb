# frozen_string_literal: true

module BerryMQ
  VERSION = "1.0.0"
end
