"""The shop demo: orders, stock and packing wired together by berryMQ messages."""
