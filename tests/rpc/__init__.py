"""The JSON-RPC endpoint, black-box through HTTP (tests/rpc/helpers.py makes the calls)."""
