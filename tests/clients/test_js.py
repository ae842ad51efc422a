"""The JavaScript client (clients/js): its `node --test` suite against a live site.

The suite twitters to the site's Python follower, follows and pulls what
Python twitters, talks to a Python follower, and checks the errors. It runs
here with the site's URL and key in its environment; without Node 20 or newer
it is skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib

import pytest

from tests.support import SiteProcess
from tests.support.sites import ROOT

from .conftest import KEY

CLIENT = ROOT / "clients" / "js"
NODE = shutil.which("node")


def node_major() -> int:
    if NODE is None:
        return 0
    version = subprocess.run([NODE, "--version"], capture_output=True, text=True).stdout
    match = re.match(r"v(\d+)\.", version)
    return int(match.group(1)) if match else 0


needs_node = pytest.mark.skipif(
    node_major() < 20, reason="the JavaScript client's tests need Node 20 or newer on PATH"
)


@needs_node
def test_node_suite_passes_against_a_live_site(clients_site: SiteProcess) -> None:
    env = {
        **os.environ,
        "BERRYMQ_TEST_URL": f"{clients_site.base_url}/berrymq/rpc/",
        "BERRYMQ_TEST_API_KEY": KEY,
        "BERRYMQ_TEST_SITE": clients_site.base_url,
    }
    assert NODE is not None
    done = subprocess.run(
        [NODE, "--test", "--test-reporter=tap"],
        cwd=CLIENT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = f"{done.stdout}\n{done.stderr}"
    assert done.returncode == 0, f"node --test failed:\n{output}"
    # Every test ran: none was skipped for want of the site.
    assert re.search(r"^# skipped 0$", done.stdout, re.M), output
    assert int(re.search(r"^# pass (\d+)$", done.stdout, re.M)[1]) >= 20, output  # type: ignore[index]


def test_package_json_is_ready_to_publish() -> None:
    package = json.loads((CLIENT / "package.json").read_text())
    assert package["name"] == "berrymq"
    assert package["type"] == "module"
    assert package["engines"] == {"node": ">=20"}
    assert package["scripts"]["test"] == "node --test"
    assert "dependencies" not in package
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert package["license"] == project["license"]
    assert package["version"] == project["version"]
    entry = package["exports"]["."]
    assert (entry["default"], entry["types"]) == (package["main"], package["types"])
    for name in [*package["files"], entry["default"], entry["types"]]:
        assert (CLIENT / name).is_file(), f"package.json names {name}, which is not in clients/js"
    assert (CLIENT / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()
