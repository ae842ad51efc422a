"""``python -m berrymq_django.conformance URL --api-key KEY [--peer]``: run the rules, report.

Exit status 0 when every rule passed, 1 when any failed or the endpoint refused the key,
2 for bad options (a URL or key the kit cannot use).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ..rpc.urls import url_problem
from . import Kit, Outcome, rules_for, run
from .callback import CallbackSite
from .endpoint import Endpoint, key_refused


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m berrymq_django.conformance",
        description="Check a berryMQ JSON-RPC endpoint against the protocol (docs/protocol.rst).",
    )
    parser.add_argument("url", help="the endpoint, e.g. http://127.0.0.1:8000/berrymq/rpc/")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("BERRYMQ_API_KEY"),
        help="a key the endpoint accepts as Bearer (default: $BERRYMQ_API_KEY)",
    )
    parser.add_argument(
        "--peer",
        action="store_true",
        help="also play an interconnected peer and check how the endpoint calls it back",
    )
    parser.add_argument(
        "--listen",
        default="127.0.0.1:0",
        metavar="HOST:PORT",
        help="--peer: where the calling site listens (default 127.0.0.1, a free port)",
    )
    parser.add_argument(
        "--callback-url",
        help="--peer: the calling site's URL as the endpoint reaches it (default from --listen)",
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds one call may take (default 10)"
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=20.0,
        help="seconds to wait for what the endpoint does in the background (default 20)",
    )
    args = parser.parse_args(argv)
    if not args.api_key:
        parser.error("--api-key (or $BERRYMQ_API_KEY) is required")
    if not (args.api_key.isascii() and args.api_key.isprintable()):
        parser.error("--api-key must be printable ASCII: it travels in an HTTP header")
    problem = url_problem(args.url)
    if problem:
        parser.error(f"URL {args.url!r} {problem}")
    host, colon, port = args.listen.rpartition(":")
    if not colon or not port.isdigit():
        parser.error(f"--listen must be HOST:PORT, not {args.listen!r}")
    args.listen_at = (host or "127.0.0.1", int(port))
    if args.timeout <= 0 or args.wait <= 0:
        parser.error("--timeout and --wait must be more than 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the rules; print a line per rule and a summary; return the exit status."""
    args = parse(argv)
    endpoint = Endpoint(args.url, args.api_key, timeout=args.timeout)
    refused = key_refused(endpoint)
    if refused:
        endpoint.close()
        print(f"The endpoint refused the API key ({refused}); every rule needs a key it accepts.")
        return 1
    kit = Kit(endpoint, wait=args.wait)
    if args.peer:
        try:
            host, port = args.listen_at
            kit.callback = CallbackSite(host, port, advertise=args.callback_url)
        except OSError as exc:
            print(f"cannot listen on {args.listen}: {exc}", file=sys.stderr)
            return 2

    def report(outcome: Outcome) -> None:
        print(outcome.line(), flush=True)

    try:
        outcomes = run(kit, rules_for(peer=args.peer), report)
    finally:
        endpoint.close()
        if kit.callback is not None:
            kit.callback.close()
    failed = [o.rule.id for o in outcomes if not o.passed]
    passed = len(outcomes) - len(failed)
    summary = f"{passed} of {len(outcomes)} rules passed"
    print(f"{summary}; failed: {', '.join(failed)}" if failed else summary)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
