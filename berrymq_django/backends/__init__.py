"""Backends carry non-local messages, shared queues and JSON-RPC state beyond one process.

Chosen by import string in BERRYMQ["BACKEND"]; the in-memory one is the default::

    base           SiteBackend, the contract every backend meets
    memory         MemoryBackend: one process (the default)
    memory_state   its JSON-RPC connections and uid window
    redis/         RedisBackend: every process sharing a Redis URL and prefix
"""
