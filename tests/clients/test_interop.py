"""Python, Ruby and Node on one site: each message reaches every follower exactly once.

A Ruby process (interop/ruby_peer.rb, the client in clients/ruby) and a Node
process (interop/node_peer.mjs, clients/js) follow on the module's
``clients_site``, driven over stdin, reporting what they receive on stdout:

* Ruby twitters; Node's follower and the site's Python follower receive it.
* Node talks; the site's Python follower answers; Ruby's follower of the
  reply identifier sees the answer.
* Python twitters; both Ruby's and Node's followers receive it.

Skipped without ruby (unless BERRYMQ_REQUIRE_RUBY=1), Node 20+ or clients/js.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.support import SiteProcess, eventually
from tests.support.sites import ROOT

from .processes import Peer
from .sites import client_environ, received

HERE = Path(__file__).resolve().parent / "interop"
JS_CLIENT = ROOT / "clients" / "js" / "berrymq.js"
RUBY = shutil.which("ruby")
NODE = shutil.which("node")


def node_major() -> int:
    if NODE is None:
        return 0
    version = subprocess.run([NODE, "--version"], capture_output=True, text=True).stdout
    match = re.match(r"v(\d+)\.", version)
    return int(match.group(1)) if match else 0


if RUBY is None and os.environ.get("BERRYMQ_REQUIRE_RUBY") == "1":
    raise RuntimeError("BERRYMQ_REQUIRE_RUBY=1 but no ruby on PATH: install Debian's ruby")
pytestmark = [
    pytest.mark.skipif(RUBY is None, reason="ruby is not installed (apt-get install ruby)"),
    pytest.mark.skipif(node_major() < 20, reason="needs Node 20 or newer on PATH"),
    pytest.mark.skipif(
        not JS_CLIENT.exists(), reason="the JavaScript client (clients/js) is absent"
    ),
]


def once_each(messages: list[dict[str, Any]]) -> Counter[str]:
    """How many times each uid came."""
    return Counter(message["uid"] for message in messages)


def test_python_ruby_and_node_exchange_messages_exactly_once(clients_site: SiteProcess) -> None:
    prefix = f"i{uuid.uuid4().hex[:8]}"
    env = {**os.environ, **client_environ(clients_site), "INTEROP_PREFIX": prefix}
    assert RUBY is not None and NODE is not None
    ruby = Peer(
        "ruby",
        [RUBY, f"-I{ROOT / 'clients' / 'ruby' / 'lib'}", str(HERE / "ruby_peer.rb")],
        env,
        HERE,
    )
    node = Peer("node", [NODE, str(HERE / "node_peer.mjs"), str(JS_CLIENT)], env, HERE)
    try:
        ruby.wait_for("ready")
        node.wait_for("ready")

        # Ruby twitters: Node's follower and the site's Python follower get each once.
        ruby.tell("twitter 5")
        ruby.wait_for("sent 5")
        # Node talks: Python answers, Ruby's follower of the reply identifier sees it.
        node.tell("talk SKU-7")
        talked = json.loads(node.wait_for("talked ")[len("talked ") :])
        answer = {"sku": "SKU-7", "price": 9.9, "currency": "EUR"}
        assert answer in talked, talked
        # Python twitters: both followers get it once.
        answer_http = clients_site.http.post(
            "/send/", json={"id": f"{prefix}py:all", "count": 3, "kwargs": {"from": "python"}}
        )
        assert answer_http.status_code == 200, answer_http.text

        def complete() -> bool:
            replies = [m for m in ruby.got(f"{prefix}reply:") if m["args"] == [answer]]
            return (
                len(node.got(f"{prefix}rb:")) >= 5
                and len(node.got(f"{prefix}py:")) >= 3
                and len(ruby.got(f"{prefix}py:")) >= 3
                and len(replies) >= 1
                and len(received(clients_site, f"{prefix}rb:hello")) >= 5
            )

        eventually(complete, timeout=60, interval=0.1, what="every follower to get its messages")
        time.sleep(2)  # nothing announces that no more will come: watch a while for duplicates

        from_ruby = node.got(f"{prefix}rb:")
        assert sorted(m["args"][0] for m in from_ruby) == list(range(5)), from_ruby
        assert set(once_each(from_ruby).values()) == {1}
        on_site = received(clients_site, f"{prefix}rb:hello")
        assert sorted(m["args"][0] for m in on_site) == list(range(5)), on_site
        assert {m["uid"] for m in on_site} == {m["uid"] for m in from_ruby}

        for peer in (node, ruby):
            from_python = peer.got(f"{prefix}py:")
            assert sorted(m["args"][0] for m in from_python) == [0, 1, 2], (peer.name, from_python)
            assert set(once_each(from_python).values()) == {1}, (peer.name, from_python)

        replies = ruby.got(f"{prefix}reply:quoted")
        answers = [m for m in replies if m["args"] == [answer]]
        assert len(answers) == 1, replies
        assert answers[0]["origin"] == "clients-site"
        assert set(once_each(replies).values()) == {1}, replies
    finally:
        outputs = {peer.name: peer.close() for peer in (ruby, node)}
    for peer in (ruby, node):
        assert peer.process.returncode == 0, (
            f"{peer.name} exited {peer.process.returncode}:\n{outputs[peer.name]}"
        )
