"""The conformance kit (``python -m berrymq_django.conformance``) against real endpoints.

Our own site, a gunicorn process, passes every rule as a client endpoint
and as an interconnect peer; a site that breaks one rule fails that rule
alone; a server answering garbage fails, with the rules named and no
traceback. The kit runs as a user runs it: a subprocess.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from berrymq_django.conformance import rules_for
from tests.support.sites import ROOT, SiteProcess

KEY = "conformance-key-" + "k" * 32
PROTOCOL = ROOT / "docs" / "protocol.rst"


def site(name: str, extra: dict[str, object] | None = None) -> SiteProcess:
    """Return (not started) a test site that knows KEY as "tester"."""
    return SiteProcess(
        name,
        app="tests.peering.site_wsgi:application",
        settings="tests.peering.site_settings",
        ready="/received/?count=1",
        env={
            "BERRYMQ_SITE_NAME": name,
            "BERRYMQ_SITE_KEYS": json.dumps({"tester": KEY}),
            "BERRYMQ_SITE_EXTRA": json.dumps(extra or {}),
        },
        gunicorn={"worker_class": "gthread", "threads": 8},
    )


@pytest.fixture(scope="module")
def our_site() -> Iterator[SiteProcess]:
    with site("conformance-site") as started:
        yield started


def kit(url: str, *options: str) -> subprocess.CompletedProcess[str]:
    """Run the kit as a user does; return what it printed and its exit status."""
    return subprocess.run(
        [sys.executable, "-m", "berrymq_django.conformance", url, "--api-key", KEY, *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def verdicts(output: str) -> dict[str, str]:
    """Map each rule id on the kit's report lines to PASS or FAIL."""
    found = re.findall(r"^(PASS|FAIL) (\S+)", output, re.MULTILINE)
    return {rule_id: verdict for verdict, rule_id in found}


@pytest.mark.parametrize("peer", [False, True], ids=["client", "peer"])
def test_our_site_passes_every_rule(our_site: SiteProcess, peer: bool):
    done = kit(f"{our_site.base_url}/berrymq/rpc/", *(["--peer"] if peer else []))

    expected = {item.id: "PASS" for item in rules_for(peer=peer)}
    assert verdicts(done.stdout) == expected, done.stdout + done.stderr
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(expected)} of {len(expected)} rules passed" in done.stdout
    if peer:  # the interconnect rules ran, not only the client ones
        assert {"interconnect", "forward", "origin-peer", "retry"} <= set(expected)


def test_a_site_that_breaks_one_rule_fails_that_rule_alone():
    # Open to anyone: a call without credentials is served, which the auth rule refuses.
    with site("conformance-open", {"ALLOW_ANONYMOUS": True}) as open_site:
        done = kit(f"{open_site.base_url}/berrymq/rpc/")

    found = verdicts(done.stdout)
    assert found["auth"] == "FAIL", done.stdout
    assert {rule_id for rule_id, verdict in found.items() if verdict == "FAIL"} == {"auth"}
    assert done.returncode == 1
    assert "failed: auth" in done.stdout


class Garbage(BaseHTTPRequestHandler):
    """Answer every POST with HTTP 200 and a body that is no JSON-RPC at all."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"<html>hello</html>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_the_kit_fails_an_endpoint_that_answers_garbage():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Garbage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        done = kit(f"http://127.0.0.1:{server.server_port}/berrymq/rpc/", "--peer", "--wait", "2")
    finally:
        server.shutdown()
        server.server_close()

    found = verdicts(done.stdout)
    assert done.returncode == 1, done.stdout
    assert set(found) == {item.id for item in rules_for(peer=True)}
    for rule_id in ("auth", "status", "parse-error", "send-message", "uid-dedup", "interconnect"):
        assert found[rule_id] == "FAIL", done.stdout
    assert "FAIL auth" in done.stdout and "HTTP 200" in done.stdout
    assert "Traceback" not in done.stderr, done.stderr


def test_the_kit_names_an_endpoint_it_cannot_reach():
    done = kit("http://127.0.0.1:9/berrymq/rpc/", "--wait", "1")

    assert done.returncode == 1
    assert "FAIL auth" in done.stdout and "no answer from" in done.stdout
    assert "Traceback" not in done.stderr, done.stderr


def run_kit(url: str, key: str) -> subprocess.CompletedProcess[str]:
    """Run the kit with this key (not the site's)."""
    return subprocess.run(
        [sys.executable, "-m", "berrymq_django.conformance", url, "--api-key", key],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_kit_stops_at_once_when_the_endpoint_refuses_the_key(our_site: SiteProcess):
    done = run_kit(f"{our_site.base_url}/berrymq/rpc/", "not-a-key-the-site-knows-0123456789")

    assert done.returncode == 1
    assert "The endpoint refused the API key (HTTP 401: 'Invalid API key.')" in done.stdout
    assert verdicts(done.stdout) == {}, done.stdout  # no rule ran on a refused key
    assert "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("url", "key", "said"),
    [
        ("ftp://x/", KEY, "is not an http(s) URL"),
        ("127.0.0.1:8000/berrymq/rpc/", KEY, "is not an http(s) URL"),
        ("http://[::1", KEY, "is not a URL"),
        ("http://127.0.0.1:99999/", KEY, "names port 99999"),
        ("http://127.0.0.1:9/", "bad key \u00e9", "--api-key must be printable ASCII"),
    ],
)
def test_the_kit_refuses_a_url_or_key_it_cannot_use(url: str, key: str, said: str):
    done = run_kit(url, key)

    assert done.returncode == 2, done.stdout + done.stderr
    assert said in done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def test_the_kit_refuses_to_run_without_a_key():
    done = subprocess.run(
        [sys.executable, "-m", "berrymq_django.conformance", "http://127.0.0.1:9/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert done.returncode == 2
    assert "--api-key" in done.stderr


def test_every_rule_is_a_section_of_the_protocol_document():
    labels = set(re.findall(r"^\.\. _([a-z0-9-]+):\s*$", PROTOCOL.read_text(), re.MULTILINE))

    missing = [item.id for item in rules_for(peer=True) if item.id not in labels]
    assert missing == [], f"rules without a section in {Path(PROTOCOL).name}: {missing}"


def test_a_body_far_past_max_body_bytes_leaves_the_connection_usable(our_site: SiteProcess):
    """The refused body used to be read only to the limit: gunicorn lost the next request."""
    url = f"{our_site.base_url}/berrymq/rpc/"
    head = b'{"jsonrpc": "2.0", "id": 1, "method": "status", "params": {"pad": "'
    big = head + b"x" * (6 * 1024 * 1024) + b'"}}'  # 2 MiB past the 4 MiB default
    status = {"jsonrpc": "2.0", "id": 2, "method": "status", "params": {}}
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    with httpx.Client(headers=headers, timeout=30) as http:
        refused = http.post(url, content=big).json()
        again = http.post(url, json=status)  # the same keep-alive connection

    assert refused["error"]["code"] == -32010
    assert again.json()["result"]["protocol"] == "1.0"
