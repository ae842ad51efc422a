"""The conformance kit: check any berryMQ endpoint against docs/protocol.rst.

    python -m berrymq_django.conformance URL --api-key KEY [--peer]

prints one line per rule, ``PASS`` or ``FAIL``, the rule's id (a section
label of docs/protocol.rst) and a short reason, and exits 0 only when every
rule passed. With ``--peer`` it also plays an interconnected peer (a small
HTTP server of its own, ``callback.CallbackSite``) and checks how the
endpoint calls it back.

It is a client of the protocol and nothing more: no Django, no access to
the site's insides; what it observes, it observes over JSON-RPC (delivery
through queue connections it opens). The rules live by subject in
``framing``, ``methods``, ``delivery``, ``limits`` and ``peer``, and run in
that order; each registers itself with ``check.rule``.
"""

from __future__ import annotations

from . import delivery, framing, limits, methods, peer
from .check import RULES, Failure, Kit, Outcome, Rule, run

__all__ = ["RULES", "Failure", "Kit", "Outcome", "Rule", "rules_for", "run"]

# The rule modules, in the order their rules run (each module's in the order written).
_ORDER = [module.__name__ for module in (framing, methods, delivery, limits, peer)]


def rules_for(*, peer: bool) -> list[Rule]:
    """Return the rules to run, in order: the client rules, with peer the interconnect ones too."""
    chosen = [item for item in RULES if peer or not item.peer]
    return sorted(chosen, key=lambda item: _ORDER.index(item.check.__module__))
