"""The Ruby client (clients/ruby) against a live site: its minitest suite, an outage, -32005.

The minitest suite (clients/ruby/test/test_*.rb) runs in one ``ruby``
process against the module's ``clients_site``; the outage test stops and
restarts a site of its own, twice, under a Ruby process (clients/ruby/test/outage.rb)
that talks to this test over stdin and stdout. Without ``ruby`` these tests
are skipped, unless BERRYMQ_REQUIRE_RUBY=1 (CI sets it) makes that a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.support import SiteProcess, eventually, free_port
from tests.support.sites import ROOT

from .processes import Peer
from .sites import client_environ, clients_site_process, received

CLIENT = ROOT / "clients" / "ruby"
RUBY = shutil.which("ruby")

if RUBY is None:
    if os.environ.get("BERRYMQ_REQUIRE_RUBY") == "1":
        raise RuntimeError("BERRYMQ_REQUIRE_RUBY=1 but no ruby on PATH: install Debian's ruby")
    pytest.skip("ruby is not installed (apt-get install ruby)", allow_module_level=True)


def ruby(*args: str) -> list[str]:
    """The command line running ruby with the client and its tests on the load path."""
    assert RUBY is not None
    return [RUBY, "-Ilib", "-Itest", *args]


def test_minitest_suite(clients_site: SiteProcess) -> None:
    """Every clients/ruby/test/test_*.rb passes against the live site."""
    files = sorted(str(p.relative_to(CLIENT)) for p in (CLIENT / "test").glob("test_*.rb"))
    assert files, "no minitest files found"
    loader = "ARGV.each { |f| require File.expand_path(f) }"
    env = {**os.environ, **client_environ(clients_site)}
    done = subprocess.run(
        ruby("-e", loader, *files),
        cwd=CLIENT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"minitest failed:\n{output}"
    assert " 0 failures, 0 errors, 0 skips" in output, output


def test_outages_unavailable_reconnected_and_flushed_at_exit(tmp_path: Path) -> None:
    """Site down: flush and talk raise Unavailable. Back up: buffered messages arrive once and
    the follower, whose token the site forgot, receives again. Down at exit: the program
    waits, and delivers once the site is back."""
    identifier = f"outage{uuid.uuid4().hex[:8]}:buffered"
    name = identifier.split(":")[0]
    site = clients_site_process("clients-outage", tmp_path)
    site.start()
    env = {**os.environ, **client_environ(site), "OUTAGE_IDENTIFIER": identifier}
    script = Peer("outage.rb", ruby("test/outage.rb"), env, CLIENT)

    def arrived(identifier: str, count: int) -> list[int]:
        got = eventually(
            lambda: received(site, identifier),
            until=lambda got: len(got) >= count,
            timeout=60,
            what=f"{count} messages {identifier} on the site",
        )
        return sorted(item["args"][0] for item in got)

    try:
        script.wait_for("connected")
        site.stop(graceful=False)
        script.tell("down")
        script.wait_for("unavailable: ")
        site.start()
        script.tell("up")
        # What is sent before the receiver has its new connection is lost: send until one lands.
        eventually(
            lambda: (
                site.http.post("/send/", json={"id": f"{name}-back:ping"}).is_success
                and script.has("following again")
            ),
            timeout=120,
            interval=1.0,
            what="the Ruby follower to receive after the restart",
        )
        assert arrived(identifier, 20) == list(range(20))

        site.stop(graceful=False)
        script.tell("down")
        script.wait_for("exiting 20")  # all 20 still unsent as the program ends
        site.start()
        assert script.process.wait(timeout=120) == 0, script.close()
        assert arrived(f"{name}:at-exit", 20) == list(range(20))
    finally:
        said = script.close()
        site.close(show_log=script.process.returncode != 0)
        if script.process.returncode != 0:
            print(f"--- outage.rb said ---\n{said}")


def test_a_backend_that_cannot_answer_is_retried_then_unavailable(tmp_path: Path) -> None:
    """A site whose Redis is down answers -32005: retried with backoff, then Unavailable."""
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    site = clients_site_process(
        "clients-no-redis",
        tmp_path,
        settings="tests.clients.redis_down_settings",
        env={"BERRYMQ_CLIENTS_REDIS_URL": dead_redis},
    )
    script = """
        require "berrymq"
        begin
          BerryMQ::Client.new(ENV["BERRYMQ_URL"], api_key: ENV["BERRYMQ_API_KEY"], retry_for: 3)
          abort "connected to a site that cannot answer"
        rescue BerryMQ::Unavailable => e
          puts e.message
        end
    """
    with site:
        env = {**os.environ, **client_environ(site)}
        done = subprocess.run(
            ruby("-e", script), cwd=CLIENT, env=env, capture_output=True, text=True, timeout=120
        )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "-32005" in output, output
    attempts = int(output.split(" failed ")[1].split(" times")[0])
    assert attempts >= 2, output  # retried, not refused at the first answer
