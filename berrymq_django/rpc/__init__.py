"""berryMQ over JSON-RPC: the protocol (framing), the procedures, and the server loop.

Nothing here imports Django; berrymq_django.views serves it over HTTP.
"""
