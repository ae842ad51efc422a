"""A small Django project that shows berryMQ's push and pull APIs at work."""
