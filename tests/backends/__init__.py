"""Tests of the backends that carry messages beyond one process (Redis)."""
