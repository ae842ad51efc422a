"""The plain-Python layers load without Django: what `lint-imports` checks, seen at run time.

Importing every module of core, rpc, backends and conformance in a fresh interpreter
must leave no ``django`` or ``rest_framework`` module in ``sys.modules``:
a script or a worker can use them without configuring Django.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Imports the package's parents, the package, then each module under it, and
# reports the first import after which Django was loaded.
IMPORT_ALL = """
import importlib, json, pkgutil, sys

def django_modules():
    return sorted(m for m in sys.modules if m.partition(".")[0] in ("django", "rest_framework"))

name = sys.argv[1]
steps = [name.rpartition(".")[0], name]
culprit = None
for step in steps:
    importlib.import_module(step)
    culprit = culprit or (django_modules() and step)
for module in pkgutil.walk_packages(sys.modules[name].__path__, name + "."):
    importlib.import_module(module.name)
    culprit = culprit or (django_modules() and module.name)
print(json.dumps({"loaded": django_modules(), "first_by": culprit}))
"""


@pytest.mark.parametrize(
    "package",
    [
        "berrymq_django.core",
        "berrymq_django.rpc",
        "berrymq_django.backends",
        "berrymq_django.conformance",
    ],
)
def test_plain_python_layer_imports_without_django(package: str):
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL, package],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    loaded, first_by = report["loaded"], report["first_by"]
    assert not loaded, f"importing {first_by} loaded {len(loaded)} modules of Django or DRF"


#: A module holds one concept; past this many lines it is holding two.
MAX_MODULE_LINES = 400


def test_no_module_of_the_package_passes_the_size_of_one_concept():
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for path in (ROOT / "berrymq_django").rglob("*.py")
        if "migrations" not in path.parts
    }
    too_big = {path: lines for path, lines in sizes.items() if lines > MAX_MODULE_LINES}
    assert not too_big, f"modules over {MAX_MODULE_LINES} lines (split them): {too_big}"
