"""Backends carry non-local messages and shared queues beyond one process.

Chosen by import string in BERRYMQ["BACKEND"]; the in-memory one is the default.
"""
