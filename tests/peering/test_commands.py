"""berrymq_tail, berrymq_send and berrymq_peers against real site processes.

call_command for what they print; a subprocess (``python -m django``) where
the exit code, Ctrl-C or the absence of a traceback is the point.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from berrymq_django.conf import berrymq_settings
from tests.support import eventually, free_port

from .conftest import TESTER_KEY, SiteFactory
from .sites import ROOT, Site

WRONG_KEY = "not-a-key-anyone-knows"


@pytest.fixture(scope="module")
def target(sites: SiteFactory) -> Site:
    return sites("cmd-site", env={"BERRYMQ_SITE_EXTRA": '{"MAX_POLL_SECONDS": 1}'})


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}/berrymq/rpc/"


def run(
    argv: list[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m django`` with argv in env; return the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "django", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def queues_on(site: Site) -> int:
    return int(site.connections(TESTER_KEY).get("queue", 0))


def wait_queues(site: Site, count: int, timeout: float = 10.0) -> None:
    eventually(lambda: queues_on(site), until=lambda queues: queues == count, timeout=timeout)


class Background:
    """Run call_command in a thread, keeping its output and exception."""

    def __init__(self, *args: Any, **options: Any) -> None:
        self.out, self.err = StringIO(), StringIO()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=args, kwargs=options)
        self.thread.start()

    def _run(self, *args: Any, **options: Any) -> None:
        try:
            call_command(*args, stdout=self.out, stderr=self.err, **options)
        except BaseException as exc:
            self.error = exc

    def join(self, timeout: float = 30.0) -> list[str]:
        self.thread.join(timeout)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error
        return self.out.getvalue().splitlines()


# -- berrymq_tail --------------------------------------------------------------------------


def test_tail_prints_time_identifier_args_kwargs_and_origin(target: Site):
    tail = Background(
        "berrymq_tail", "order:*", url=target.rpc_url, api_key=TESTER_KEY, count=3, timeout=20
    )
    wait_queues(target, 1)
    target.twitter("mail:sent", 1)  # not the pattern
    target.twitter("order:created", 3)

    lines = tail.join()
    assert len(lines) == 3
    for i, line in enumerate(lines):
        when, identifier, args, kwargs, origin = line.split("  ")
        assert time.strptime(when.split(".")[0], "%H:%M:%S")
        assert (identifier, args, kwargs, origin) == (
            "order:created",
            f"[{i}]",
            "{}",
            "from cmd-site",
        )
    assert "Tailing order:* on" in tail.err.getvalue()
    wait_queues(target, 0)  # the queue was closed on the site


def test_tail_json_prints_one_object_per_line_and_colours_a_terminal(target: Site):
    tail = Background("berrymq_tail", url=target.rpc_url, api_key=TESTER_KEY, count=2, json=True)
    wait_queues(target, 1)
    target.twitter("task:run", 2)

    objects = [json.loads(line) for line in tail.join()]
    assert [(o["id"], o["args"], o["kwargs"], o["origin"]) for o in objects] == [
        ("task:run", [0], {}, "cmd-site"),
        ("task:run", [1], {}, "cmd-site"),
    ]
    assert set(objects[0]) == {"time", "id", "args", "kwargs", "uid", "origin", "timestamp"}

    coloured = Background(
        "berrymq_tail", url=target.rpc_url, api_key=TESTER_KEY, count=1, force_color=True
    )
    wait_queues(target, 1)
    target.twitter("task:run", 1)
    (line,) = coloured.join()
    assert "\x1b[" in line and "task:run" in line


def test_tail_timeout(target: Site):
    started = time.monotonic()
    out = StringIO()
    call_command("berrymq_tail", url=target.rpc_url, api_key=TESTER_KEY, timeout=0.3, stdout=out)
    assert out.getvalue() == ""
    with pytest.raises(CommandError, match=r"Timed out after 0.3 s with 0 of 1 message"):
        call_command("berrymq_tail", url=target.rpc_url, api_key=TESTER_KEY, timeout=0.3, count=1)
    assert time.monotonic() - started < 5
    wait_queues(target, 0)


def test_tail_ctrl_c_closes_the_queue_on_the_site(target: Site):
    # No --url, no --api-key: SELF_URL from the site's settings, the key from the environment.
    env = {
        **target.environ(),
        "BERRYMQ_API_KEY": TESTER_KEY,
        "PYTHONUNBUFFERED": "1",
        "PYTHONFAULTHANDLER": "1",  # SIGABRT prints where every thread stands
    }
    tail = subprocess.Popen(
        [sys.executable, "-m", "django", "berrymq_tail", "task:*"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as at a terminal: a run started in the background (`make test &`) ignores
        # SIGINT, and a child then starts ignoring it too, so no signal could stop the tail.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        wait_queues(target, 1, timeout=30)
        target.twitter("task:run", 1)
        assert tail.stdout is not None
        first = tail.stdout.readline()
        tail.send_signal(signal.SIGINT)
        _, err = tail.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        tail.send_signal(signal.SIGABRT)
        _, err = tail.communicate(timeout=20)
        raise AssertionError(f"berrymq_tail did not stop on Ctrl-C within 20 s:\n{err}") from None
    finally:
        if tail.poll() is None:
            tail.kill()
            tail.communicate()  # reaped, its pipes closed: nothing left to a later test
    assert "task:run  [0]  {}  from cmd-site" in first
    assert tail.returncode == 0, err
    assert "Traceback" not in err
    assert "the queue on the site is closed" in err
    assert queues_on(target) == 0


def wait_lines(tail: Background, count: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while len(tail.out.getvalue().splitlines()) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(tail.out.getvalue().splitlines()) >= count, tail.err.getvalue()


def test_tail_opens_a_new_queue_when_the_site_restarts(sites: SiteFactory):
    site = sites("cmd-restarting", env={"BERRYMQ_SITE_EXTRA": '{"MAX_POLL_SECONDS": 1}'})
    tail = Background(
        "berrymq_tail", "order:*", url=site.rpc_url, api_key=TESTER_KEY, count=2, timeout=90
    )
    wait_queues(site, 1)
    site.twitter("order:created", 1)
    wait_lines(tail, 1)

    site.restart()  # out of reach for a moment, then a new process that knows no token
    wait_queues(site, 1, timeout=30)
    site.twitter("order:created", 1, start=1)

    lines = tail.join(60)
    assert [line.split("  ")[2] for line in lines] == ["[0]", "[1]"]
    err = tail.err.getvalue()
    assert f"Opened a new queue on {site.rpc_url}" in err
    wait_queues(site, 0)


def test_tail_gives_up_when_the_site_stays_away_past_its_timeout(sites: SiteFactory):
    site = sites("cmd-vanishing", env={"BERRYMQ_SITE_EXTRA": '{"MAX_POLL_SECONDS": 1}'})
    tail = Background("berrymq_tail", url=site.rpc_url, api_key=TESTER_KEY, timeout=6)
    wait_queues(site, 1)
    site.stop(graceful=False)  # at once: the tail must see it gone well before its timeout

    with pytest.raises(CommandError) as raised:
        tail.join()
    assert f"{site.rpc_url} was still out of reach when --timeout (6 s) ran out" in str(
        raised.value
    )
    assert f"Cannot reach {site.rpc_url}: is the site running?" in str(raised.value)
    assert f"Lost {site.rpc_url}" in tail.err.getvalue()


# How a URL mistake ends (rpc/urls.py): with an example of one that works.
EXAMPLE = "e.g. http://127.0.0.1:8000/berrymq/rpc/."


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["berrymq_tail", "--timeout", "-1"],
            "--timeout must be a positive number of seconds, at most 31536000 (a year), not -1.",
        ),
        (
            ["berrymq_tail", "--timeout", "0"],
            "--timeout must be a positive number of seconds, at most 31536000 (a year), not 0.",
        ),
        (
            ["berrymq_tail", "--timeout", "nan"],
            "--timeout must be a positive number of seconds, at most 31536000 (a year), not nan.",
        ),
        (
            ["berrymq_tail", "--ttl", "-5"],
            "--ttl must be a positive number of seconds, at most 31536000 (a year), not -5.",
        ),
        (
            ["berrymq_tail", "--timeout", "1e10"],
            "--timeout must be a positive number of seconds, at most 31536000 (a year), not 1e+10.",
        ),
        (
            ["berrymq_peers", "--timeout", "1e308"],
            "at most 31536000 (a year), not 1e+308.",
        ),
        (["berrymq_tail", "--count", "0"], "--count must be 1 or more, not 0."),
        (["berrymq_tail", "--count", "-3"], "--count must be 1 or more, not -3."),
        (
            ["berrymq_tail", "--url", "http://"],
            f"--url 'http://' is not an http(s) URL with a host, {EXAMPLE}",
        ),
        (
            ["berrymq_peers", "--timeout", "-1"],
            "--timeout must be a positive number of seconds, at most 31536000 (a year), not -1.",
        ),
        (
            ["berrymq_peers", "--url", "ftp://x/"],
            f"--url 'ftp://x/' is not an http(s) URL with a host, {EXAMPLE}",
        ),
        (
            ["berrymq_tail", "--url", "http://[::1/"],
            "--url 'http://[::1/' is not a URL (Invalid port: ':1'): give an http(s) URL, "
            + EXAMPLE,
        ),
        # The key goes in a header: a non-ASCII one is named by where it came from, not shown.
        (
            ["berrymq_tail", "--url", "http://127.0.0.1:9/", "--api-key", "cl\u00e9"],
            "--api-key must be printable ASCII without spaces: the key travels in an HTTP header.",
        ),
        (
            ["berrymq_send", "a:b", "--url", "http://127.0.0.1:9/", "--api-key", "a key"],
            "--api-key must be printable ASCII without spaces: the key travels in an HTTP header.",
        ),
        # What JSON cannot carry is named as the argument's problem, not the identifier's.
        (
            ["berrymq_send", "a:b", "NaN"],
            "ARG 'NaN' holds NaN, which is no JSON number; quote it to send a string.",
        ),
        (["berrymq_send", "a:b", "1e400"], "ARG '1e400' holds a number out of JSON's range (inf)."),
        (["berrymq_send", "a:b", '{"a": [1e400]}'], "holds a number out of JSON's range (inf)."),
        (
            ["berrymq_send", "a:b", "--kwargs", '{"a": NaN}'],
            """--kwargs '{"a": NaN}' holds NaN, which is no JSON number.""",
        ),
        (
            ["berrymq_send", "a:b", "1", str(2**70)],
            f"ARG '{2**70}' cannot be sent as JSON: Integer exceeds 64-bit range.",
        ),
        (
            ["berrymq_send", "a b", "1"],
            "Bad identifier 'a b': Invalid berryMQ identifier 'a b': it contains whitespace.",
        ),
        (
            ["berrymq_peers", "--url", "http://h:99999/"],
            "--url 'http://h:99999/' names port 99999: ports go from 1 to 65535.",
        ),
        (
            ["berrymq_send", "a:b", "--url", "localhost:8000"],
            f"'localhost:8000' is not an http(s) URL with a host, {EXAMPLE}",
        ),
    ],
)
def test_bad_option_values_are_refused_naming_them(argv: list[str], message: str):
    with pytest.raises(CommandError) as raised:
        call_command(*argv)
    assert str(raised.value) == message or str(raised.value).endswith(message)


def test_a_negative_timeout_exits_1_without_a_traceback(target: Site):
    done = run(["berrymq_tail", "--timeout", "-1"], target.environ())
    assert done.returncode == 1
    assert done.stderr == (
        "CommandError: --timeout must be a positive number of seconds, at most 31536000 "
        "(a year), not -1.\n"
    )


@pytest.mark.parametrize(
    ("command", "argv"),
    [
        ("berrymq_tail", ["--timeout", "5"]),
        ("berrymq_send", ["order:created"]),
        ("berrymq_peers", []),
    ],
)
def test_a_wrong_endpoint_path_is_named_with_the_status_the_site_answers(
    target: Site, command: str, argv: list[str]
):
    wrong = f"{target.base_url}/berrymq/rcp/"
    env = {**target.environ(), "BERRYMQ_API_KEY": TESTER_KEY}
    done = run([command, "--url", wrong, *argv], env)

    assert done.returncode == 1
    assert f"{wrong} answered HTTP 404 (Not Found): no berryMQ endpoint at that path" in (
        done.stderr
    )
    assert "Cannot reach" not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["order created"], "Bad pattern 'order created'"),
        (["--url", "DEAD"], "Cannot reach http://127.0.0.1:"),
        (["--api-key", WRONG_KEY], "refused the API key"),
    ],
    ids=["bad-pattern", "unreachable", "refused-key"],
)
def test_tail_errors_exit_1_without_a_traceback(target: Site, argv: list[str], message: str):
    argv = [dead_url() if arg == "DEAD" else arg for arg in argv]
    done = run(["berrymq_tail", *argv, "--timeout", "5"], target.environ())

    assert done.returncode == 1
    assert done.stderr.startswith("CommandError: "), done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_tail_needs_a_url():
    assert berrymq_settings.SELF_URL is None
    with pytest.raises(CommandError, match="No --url given and BERRYMQ 'SELF_URL' is not set"):
        call_command("berrymq_tail")


# -- berrymq_send --------------------------------------------------------------------------


def test_send_sends_one_message_with_json_args_and_kwargs(target: Site):
    before = target.count()
    out = StringIO()
    call_command(
        "berrymq_send",
        "order:created",
        "42",
        "hello",
        '{"a": [1]}',
        "true",
        kwargs='{"total": "9.90"}',
        url=target.rpc_url,
        api_key=TESTER_KEY,
        stdout=out,
    )

    assert target.wait_for(before + 1) == before + 1
    item = target.received()[-1]
    assert (item["id"], item["args"], item["kwargs"]) == (
        "order:created",
        [42, "hello", {"a": [1]}, True],
        {"total": "9.90"},
    )
    assert item["origin"] == "rpc:tester"
    assert out.getvalue().startswith('Sent order:created [42, "hello", {"a": [1]}, true]')
    assert f"(uid {item['uid']})" in out.getvalue()
    assert target.connections(TESTER_KEY) == {}  # the connection was closed


@pytest.mark.parametrize(
    ("argv", "options", "message"),
    [
        (["order created"], {}, "Bad identifier 'order created'"),
        (["a:b"], {"kwargs": "{oops"}, "--kwargs is not JSON"),
        (["a:b"], {"kwargs": "[1]"}, "--kwargs must be a JSON object"),
        (["a:b"], {"url": "DEAD"}, "Cannot reach"),
        (["a:b"], {"api_key": WRONG_KEY}, "refused the API key"),
        (["a:b"], {"url": "ftp://x/"}, r"--url 'ftp://x/' is not an http\(s\) URL"),
        (["_local:x"], {}, "is local"),
    ],
)
def test_send_errors(target: Site, argv: list[str], options: dict[str, Any], message: str):
    options = {"url": target.rpc_url, "api_key": TESTER_KEY, **options}
    if options["url"] == "DEAD":
        options["url"] = dead_url()
    with pytest.raises(CommandError, match=message):
        call_command("berrymq_send", *argv, **options)
    assert target.connections(TESTER_KEY) == {}


def test_send_exits_1_without_a_traceback_on_a_refused_key(target: Site):
    env = {**target.environ(), "BERRYMQ_API_KEY": WRONG_KEY}
    done = run(["berrymq_send", "order:created", "1"], env)

    assert done.returncode == 1
    assert done.stderr.startswith("CommandError: ")
    assert "refused the API key" in done.stderr and "Traceback" not in done.stderr


# -- berrymq_peers -------------------------------------------------------------------------


def peers_setting(target: Site) -> dict[str, Any]:
    return {
        "good": {"URL": target.rpc_url, "API_KEY": TESTER_KEY, "STYLE": "oneway"},
        "down": {"URL": dead_url(), "API_KEY": TESTER_KEY, "STYLE": "oneway"},
        "refuses": {"URL": target.rpc_url, "API_KEY": WRONG_KEY, "STYLE": "oneway"},
    }


def test_peers_reports_reachable_rtt_and_key(target: Site, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(berrymq_settings, "PEERS", peers_setting(target))
    out = StringIO()
    with pytest.raises(CommandError, match=r"2 of 3 peer\(s\) unreachable or refusing our key"):
        call_command("berrymq_peers", stdout=out)

    text = out.getvalue()
    good, down, refuses = _by_peer(text)
    assert "reachable  yes, " in good and " ms" in good
    assert "our key    accepted" in good
    assert "node cmd-site" in good
    assert "reachable  no: " in down and "ConnectError" in down
    assert "reachable  yes" in refuses and "our key    refused" in refuses


def _by_peer(text: str) -> list[str]:
    """Split the report into one block per peer (a peer's lines after it are indented)."""
    blocks: list[str] = []
    for line in text.splitlines():
        if not line.startswith(" ") and not line.startswith("This site"):
            blocks.append("")
        if blocks:
            blocks[-1] += line + "\n"
    return blocks


def test_peers_json_and_all_good(target: Site, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(berrymq_settings, "PEERS", {"good": peers_setting(target)["good"]})
    out = StringIO()
    call_command("berrymq_peers", json=True, stdout=out)

    (report,) = json.loads(out.getvalue())["peers"]
    assert (report["name"], report["reachable"], report["key_accepted"]) == ("good", True, True)
    assert report["rtt_ms"] > 0
    assert report["status"]["node"] == "cmd-site"


def test_peers_without_peers(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(berrymq_settings, "PEERS", {})
    out = StringIO()
    call_command("berrymq_peers", stdout=out)
    assert "No peers configured" in out.getvalue()


def test_peers_shows_failing_links_of_the_site_when_peers_is_empty(sites: SiteFactory):
    lonely = sites(
        "cmd-lonely", peers={"down": {"URL": dead_url(), "API_KEY": TESTER_KEY, "STYLE": "oneway"}}
    )
    lonely.twitter("order:created", 1)
    lonely.wait_status(TESTER_KEY, "down", lambda f: f["state"] == "retrying")
    # This process's settings list no peers; the running site has a link all the same.
    env = {**lonely.environ(), "BERRYMQ_SITE_PEERS": "{}", "BERRYMQ_API_KEY": TESTER_KEY}

    done = run(["berrymq_peers"], env)
    as_json = run(["berrymq_peers", "--json"], env)

    assert "No peers configured" in done.stdout
    assert "down  oneway  http://127.0.0.1:" in done.stdout
    assert "  site link  retrying: buffered 1, sent 0" in done.stdout
    assert done.returncode == as_json.returncode == 1
    for finished in (done, as_json):
        assert finished.stderr == (
            "CommandError: 1 link(s) of the running site failing: down.\n"
        ), finished.stderr
    assert json.loads(as_json.stdout)["links"]["down"]["state"] == "retrying"


def test_peers_shows_the_running_sites_links(target: Site, sites: SiteFactory):
    home = sites("cmd-home", peers=peers_setting(target))
    home.twitter("order:created", 1)
    home.wait_status(TESTER_KEY, "good", lambda f: f["sent"] == 1)
    env = {**home.environ(), "BERRYMQ_API_KEY": TESTER_KEY}

    done = run(["berrymq_peers"], env)

    assert done.returncode == 1
    assert "our link   connected: buffered 0, sent 1, retried 0, dropped 0" in done.stdout
    assert "our link   retrying: buffered 1, sent 0" in done.stdout
    assert done.stderr.startswith("CommandError: 2 of 3 peer(s)")
    assert "Traceback" not in done.stderr
    without_key = run(["berrymq_peers"], {**home.environ(), "BERRYMQ_API_KEY": ""})
    assert "pass --api-key or set $BERRYMQ_API_KEY" in without_key.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["berrymq_send", "a:b", "1", "--timeout", "2"],
        ["berrymq_tail", "a:*", "--timeout", "1"],
        ["berrymq_peers", "--timeout", "1", "--api-key", TESTER_KEY],
    ],
    ids=["send", "tail", "peers"],
)
def test_a_password_in_the_url_is_never_shown(argv: list[str]):
    """Only the inner part of the message used to be masked."""
    url = dead_url().replace("http://", "http://bob:hunter2@")
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as raised:
        call_command(*argv, "--url", url, stdout=out, stderr=err)

    said = str(raised.value) + out.getvalue() + err.getvalue()
    assert "hunter2" not in said
    assert "bob:***@127.0.0.1" in said
