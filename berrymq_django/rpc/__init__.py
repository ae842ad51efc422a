"""berryMQ over JSON-RPC, and the peer links between sites. Nothing here imports Django.

    protocol     JSON-RPC 2.0/1.0 framing, error codes (no I/O)
    params       a procedure's params: one JSON schema, published and enforced
    context      what a call works with (caller, dispatcher, state, limits)
    methods      the berryMQ procedures
    server       answer a request body (single calls, batches, notifications)
    connections  the session state contract (connections, uid window)
    client       outbound calls (RPCClient, RemoteQueue) and their errors
    urls         what an endpoint URL is, and showing one without its password
    link         one peer link: buffer, batches, retries (retry: the rules)
    puller       a peer link of style "queue"
    peers        the site's links, as one lifecycle service

berrymq_django.views serves the endpoint over HTTP; berrymq_django.peering
configures the links from settings.
"""
