"""Rules, their outcomes and the run: what every conformance rule is made of.

A rule is a function of the ``Kit`` (the endpoint and what the run has
learnt about it) that returns a short reason when the endpoint behaves as
docs/protocol.rst says, and raises ``Failure`` with a reason when it does
not. Its id is the label of the section of docs/protocol.rst that states
it, so a FAIL line points at the text to read. Rules run in the order they
were registered; any other exception a rule raises (the endpoint answered
something no rule expected) is a FAIL too, never a traceback.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .callback import CallbackSite
    from .endpoint import Endpoint

__all__ = [
    "DEFAULT_LIMITS",
    "RULES",
    "Failure",
    "Kit",
    "Outcome",
    "Rule",
    "eventually",
    "expect",
    "rule",
    "run",
    "short",
]

T = TypeVar("T")

#: The limits docs/protocol.rst gives as defaults, used when ``status`` reports none.
DEFAULT_LIMITS: dict[str, float] = {
    "MAX_BODY_BYTES": 4 * 1024 * 1024,
    "MAX_BATCH": 1000,
    "MAX_DEPTH": 32,
    "MAX_IDENTIFIER_LENGTH": 200,
    "MAX_MESSAGES_PER_CALL": 10_000,
    "MAX_POLL_SECONDS": 25.0,
}


class Failure(Exception):
    """The endpoint broke the rule; the message says how, in one line."""


@dataclasses.dataclass
class Kit:
    """What every rule works with: the endpoint, and what the run learnt about it.

    ``name`` is a fresh identifier name for this run (``conformance-<hex>``),
    so the messages and queues of two runs never meet. ``node`` and
    ``limits`` come from ``status`` (the ``status`` rule fills them in).
    ``callback`` is the local site that plays an interconnected peer
    (``--peer`` only). ``wait`` is how long, in seconds, a rule waits for
    something the endpoint does in the background.
    """

    endpoint: Endpoint
    wait: float = 20.0
    name: str = dataclasses.field(default_factory=lambda: f"conformance-{secrets.token_hex(4)}")
    node: str | None = None
    limits: dict[str, float] = dataclasses.field(default_factory=lambda: dict(DEFAULT_LIMITS))
    callback: CallbackSite | None = None
    #: The interconnect token the endpoint gave the callback site (``--peer``).
    peer_token: str | None = None

    def identifier(self, action: str) -> str:
        """Return this run's identifier for action: ``conformance-<hex>:<action>``."""
        return f"{self.name}:{action}"

    def limit(self, key: str) -> int:
        """Return the endpoint's limit key (e.g. "MAX_BATCH") as an int."""
        return int(self.limits[key])


@dataclasses.dataclass(frozen=True)
class Rule:
    """One rule: its id (a section label of docs/protocol.rst), what it checks, its check."""

    id: str
    summary: str
    check: Callable[[Kit], str]
    peer: bool = False


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one rule found: passed or not, and why, in one line."""

    rule: Rule
    passed: bool
    reason: str

    def line(self) -> str:
        """Return the report line: ``PASS <id>  <reason>`` or ``FAIL <id>  <reason>``."""
        return f"{'PASS' if self.passed else 'FAIL'} {self.rule.id:<24} {self.reason}"


#: Every rule, as registered (``rules_for`` puts them in the order they run).
RULES: list[Rule] = []


def rule(
    rule_id: str, summary: str, *, peer: bool = False
) -> Callable[[Callable[[Kit], str]], Callable[[Kit], str]]:
    """Register the decorated check as rule rule_id (``peer``: run with ``--peer`` only)."""

    def register(check: Callable[[Kit], str]) -> Callable[[Kit], str]:
        if any(existing.id == rule_id for existing in RULES):
            raise ValueError(f"Two conformance rules are called {rule_id!r}.")
        RULES.append(Rule(rule_id, summary, check, peer))
        return check

    return register


def run(
    kit: Kit, rules: list[Rule], report: Callable[[Outcome], None] | None = None
) -> list[Outcome]:
    """Run rules against kit's endpoint in order; return (and report, as each ends) the outcomes."""
    outcomes = []
    for item in rules:
        try:
            outcome = Outcome(item, True, item.check(kit))
        except Failure as exc:
            outcome = Outcome(item, False, str(exc))
        except Exception as exc:  # an answer no rule expected: a FAIL, never a traceback
            outcome = Outcome(item, False, f"unexpected {type(exc).__name__}: {exc}")
        outcomes.append(outcome)
        if report is not None:
            report(outcome)
    return outcomes


def eventually(probe: Callable[[], T | None], timeout: float, what: str) -> T:
    """Call probe until it returns something other than None; Failure after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() >= deadline:
            raise Failure(f"waited {timeout:g} s for {what}")
        time.sleep(0.05)


def expect(condition: object, reason: str) -> None:
    """Raise Failure(reason) unless condition holds."""
    if not condition:
        raise Failure(reason)


def short(value: Any, limit: int = 80) -> str:
    """Return repr(value) cut to limit characters, for a report line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
