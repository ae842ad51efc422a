"""Run the benchmark cases and print the verdict table (or JSON)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace
from time import perf_counter

from bench.report import CaseResult, render_json, render_table
from bench.timing import Throughput, Timing

CASES = (
    "dispatch",
    "routing",
    "queue",
    "memory",
    "rpc",
    "redis",
    "groups",
    "peering",
    "mesh",
    "long_polls",
    "outbox",
)


@dataclass(frozen=True)
class Plan:
    """How much work each case does."""

    n: int  # ops per timed round
    rounds: int
    warmup: int
    memory_n: int  # messages queued for the memory case


FULL = Plan(n=200_000, rounds=7, warmup=20_000, memory_n=1_000_000)
QUICK = Plan(n=5_000, rounds=3, warmup=1_000, memory_n=20_000)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few iterations (smoke test)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument(
        "--only",
        default=",".join(CASES),
        help=f"comma-separated cases to run (default: all of {', '.join(CASES)})",
    )
    parser.add_argument(
        "--rounds", type=int, help="timed rounds per case (default 7, quick 3; rpc 5, quick 1)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    args.only = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = sorted(set(args.only) - set(CASES))
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    plan = QUICK if args.quick else FULL
    rounds = args.rounds or plan.rounds
    try:
        import berrymq_django  # noqa: F401
        from bench import (
            dispatch,
            groups,
            long_polls,
            memory,
            outbox,
            peering,
            queues,
            redis_throughput,
            rpc_http,
        )
    except ImportError as exc:
        print(f"bench: cannot import berrymq_django ({exc}); is the core written?", file=sys.stderr)
        return 2

    results: list[CaseResult] = []
    timings: dict[str, dict[str, Timing]] = {}
    throughputs: dict[str, dict[str, Throughput]] = {}
    skipped: dict[str, str] = {}
    timed = {"n": plan.n, "rounds": rounds, "warmup": plan.warmup}
    started = perf_counter()
    for case in CASES:
        if case not in args.only:
            continue
        if case == "rpc" and (reason := rpc_http.unavailable()):
            print(f"bench: skipping rpc: {reason}", file=sys.stderr, flush=True)
            skipped[case] = reason
            continue
        if case == "redis" and (reason := redis_throughput.unavailable()):
            print(f"bench: skipping redis: {reason}", file=sys.stderr, flush=True)
            skipped[case] = reason
            continue
        if case == "outbox" and (reason := outbox.unavailable()):
            print(f"bench: skipping outbox: {reason}", file=sys.stderr, flush=True)
            skipped[case] = reason
            continue
        if case == "groups" and (reason := groups.unavailable()):
            print(f"bench: skipping groups: {reason}", file=sys.stderr, flush=True)
            skipped[case] = reason
            continue
        if case == "long_polls" and (reason := long_polls.unavailable()):
            print(f"bench: skipping long_polls: {reason}", file=sys.stderr, flush=True)
            skipped[case] = reason
            continue
        print(f"bench: running {case} ...", file=sys.stderr, flush=True)
        if case == "long_polls":
            poll_plan = long_polls.QUICK if args.quick else long_polls.FULL
            if args.rounds:
                poll_plan = replace(poll_plan, rounds=args.rounds)
            case_results, by_label = long_polls.run_long_polls(poll_plan)
            results += case_results
            throughputs[case] = by_label
            continue
        if case == "redis":
            redis_plan = redis_throughput.QUICK if args.quick else redis_throughput.FULL
            if args.rounds:
                redis_plan = replace(redis_plan, rounds=args.rounds)
            case_results, case_timings = redis_throughput.run_redis(redis_plan)
            results += case_results
            timings[case] = case_timings
            continue
        if case == "groups":
            groups_plan = groups.QUICK if args.quick else groups.FULL
            if args.rounds:
                groups_plan = replace(groups_plan, rounds=args.rounds)
            case_results, case_timings = groups.run_groups(groups_plan)
            results += case_results
            timings[case] = case_timings
            continue
        if case == "outbox":
            outbox_plan = outbox.QUICK if args.quick else outbox.FULL
            if args.rounds:
                outbox_plan = replace(outbox_plan, rounds=args.rounds)
            case_results, case_timings = outbox.run_outbox(outbox_plan)
            results += case_results
            timings[case] = case_timings
            continue
        if case == "rpc":
            load = rpc_http.QUICK if args.quick else rpc_http.FULL
            if args.rounds:
                load = replace(load, rounds=args.rounds)
            case_results, by_label = rpc_http.run_rpc(plan=load)
            results += case_results
            throughputs[case] = by_label
            continue
        if case == "peering":
            results += peering.run_peering(plan=peering.QUICK if args.quick else peering.FULL)
            continue
        if case == "mesh":
            mesh_plan = peering.MESH_QUICK if args.quick else peering.MESH_FULL
            if args.rounds:
                mesh_plan = replace(mesh_plan, rounds=args.rounds)
            results += peering.run_mesh(plan=mesh_plan)
            continue
        if case == "memory":
            results.append(memory.run_memory(n=plan.memory_n))
            continue
        runner = {
            "dispatch": dispatch.run_dispatch,
            "routing": dispatch.run_routing,
            "queue": queues.run_queue,
        }[case]
        case_results, case_timings = runner(**timed)
        results += case_results
        timings[case] = case_timings
    elapsed = perf_counter() - started

    if args.json:
        print(
            render_json(
                results,
                timings,
                quick=args.quick,
                elapsed_s=elapsed,
                throughputs=throughputs,
                skipped=skipped,
            )
        )
    else:
        print(render_table(results, timings, throughputs, skipped))
        print(f"\ntotal {elapsed:.1f}s{'  (--quick: numbers are rough)' if args.quick else ''}")
    missed = [r.key for r in results if r.passed is False]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
