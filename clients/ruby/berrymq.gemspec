# frozen_string_literal: true

require_relative "lib/berrymq/version"

Gem::Specification.new do |spec|
  spec.name = "berrymq"
  spec.version = BerryMQ::VERSION
  spec.summary = "berryMQ's Ruby API for a berrymq_django site's JSON-RPC endpoint"
  spec.description = "Follow, twitter, pull and talk over a berrymq_django site; standard library only."
  spec.authors = ["the berrymq_django authors"]
  spec.license = "MIT"
  spec.required_ruby_version = ">= 3.1"
  spec.files = Dir["lib/**/*.rb"] + ["README.md"]
  spec.require_paths = ["lib"]
end
