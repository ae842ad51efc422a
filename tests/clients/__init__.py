"""The client libraries in other languages (clients/), against a real site."""
