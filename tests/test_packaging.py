"""The package as a user gets it: a wheel and an sdist, installed into a fresh venv.

The build runs on a copy of the working tree (nothing is written into the
repository) with ``python -m build --no-isolation``: the build backend is
this venv's setuptools, which the dev extra pins to what
``[build-system] requires``, and ``build`` refuses to go on when it does not
match. So no download, and the whole module takes seconds.

The wheel is installed with ``--no-deps`` into a new venv whose
dependencies (Django, DRF, httpx...) are this venv's, seen through a
``.pth`` line. Installing them from PyPI would test pip and the network
more than this package; what is checked here is what the wheel brings: its
files, its metadata, and that Django finds the app, its URLconf and its
commands from a directory outside the repository.
"""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "berrymq_django"
IGNORED = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".nox",
    "__pycache__",
    "*.pyc",
    "*.egg-info",
    "build",
    "dist",
    ".*_cache",
    ".hypothesis",
    "*.sqlite3",
)
COMMANDS = {"berrymq_followers", "berrymq_peers", "berrymq_send", "berrymq_tail"}


def run(command: list[str], **options: object) -> subprocess.CompletedProcess[str]:
    """Run command; fail the test with its output when it exits non-zero."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, **options)  # type: ignore[call-overload]
    assert done.returncode == 0, (
        f"{command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    )
    return done


class Built:
    """The source copy the distributions were built from, and the build's output."""

    def __init__(self, source: Path, out: Path, log: str) -> None:
        self.source = source
        self.log = log
        (self.wheel,) = out.glob("*.whl")
        (self.sdist,) = out.glob("*.tar.gz")

    def package_files(self) -> set[str]:
        """Every file of the package in the source tree, as "berrymq_django/..." paths."""
        root = self.source / PACKAGE
        return {
            f"{PACKAGE}/{path.relative_to(root).as_posix()}"
            for path in root.rglob("*")
            if path.is_file()
        }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """Build the sdist, then the wheel from that sdist (build's default), from a copy."""
    tmp = tmp_path_factory.mktemp("packaging")
    source, out = tmp / "source", tmp / "dist"
    shutil.copytree(ROOT, source, ignore=IGNORED)
    done = run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)])
    return Built(source, out, done.stdout + done.stderr)


def test_wheel_holds_every_file_of_the_package(built: Built):
    with zipfile.ZipFile(built.wheel) as wheel:
        names = set(wheel.namelist())

    in_package = {name for name in names if name.startswith(f"{PACKAGE}/")}
    # Templates, migrations and py.typed included: whatever the package holds, the wheel holds.
    assert in_package == built.package_files()
    assert f"{PACKAGE}/py.typed" in in_package
    commands = {Path(n).stem for n in in_package if n.startswith(f"{PACKAGE}/management/commands/")}
    assert commands >= COMMANDS
    assert not {name for name in names if name.startswith(("tests/", "example_project/", "bench/"))}


def test_metadata_states_the_license_as_spdx_and_ships_the_file(built: Built):
    with zipfile.ZipFile(built.wheel) as wheel:
        (metadata,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        info = email.message_from_bytes(wheel.read(metadata))
        licenses = [n for n in wheel.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
        shipped = wheel.read(licenses[0]).decode() if licenses else ""

    assert info["License-Expression"] == "MIT"
    assert info.get_all("License-File") == ["LICENSE"]
    assert not [c for c in info.get_all("Classifier") or [] if c.startswith("License ::")]
    assert shipped == (ROOT / "LICENSE").read_text()
    assert "Copyright (c) the berrymq_django authors" in shipped
    assert set(info.get_all("Provides-Extra") or []) >= {"redis", "dev"}
    assert "Deprecat" not in built.log, built.log  # e.g. a license table setuptools warns about


def test_sdist_holds_the_package_readme_license_and_no_tests(built: Built):
    with tarfile.open(built.sdist) as sdist:
        top = sdist.getnames()[0].split("/")[0]
        names = {name.removeprefix(f"{top}/") for name in sdist.getnames()}

    assert {"pyproject.toml", "README.rst", "LICENSE"} <= names
    assert built.package_files() <= names
    assert not {name for name in names if name.startswith("tests/")}


SETTINGS = """
SECRET_KEY = "packaging-test-only"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "berrymq_django",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
ROOT_URLCONF = "site_urls"
USE_TZ = True
"""
URLS = """
from django.urls import include, path

urlpatterns = [path("berrymq/", include("berrymq_django.urls"))]
"""
PROBE = """
import sys
from importlib.resources import files
from pathlib import Path

import django
from django.core.management import call_command, get_commands
from django.urls import reverse

django.setup()
import berrymq_django
from berrymq_django import twitter

assert not any(Path(entry or ".").resolve() == Path(sys.argv[1]) for entry in sys.path), sys.path
assert Path(berrymq_django.__file__).is_relative_to(sys.prefix), berrymq_django.__file__
assert files("berrymq_django").joinpath("py.typed").is_file()
assert twitter("packaging:checked").id == "packaging:checked"
call_command("check")
print(reverse("berrymq:rpc"))
print(*sorted(name for name, app in get_commands().items() if app == "berrymq_django"))
"""


def test_wheel_installed_in_a_fresh_venv_works_outside_the_repository(built: Built, tmp_path: Path):
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = str(venv / "bin" / "python")
    run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
         "--no-index", str(built.wheel)])  # fmt: skip
    fresh = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    ours = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    # Appended after the venv's own site-packages: its berrymq_django comes first.
    Path(fresh.stdout.strip(), "dependencies.pth").write_text("\n".join(ours) + "\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "site_settings.py").write_text(SETTINGS)
    (project / "site_urls.py").write_text(URLS)
    (project / "probe.py").write_text(textwrap.dedent(PROBE))
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")},
        "DJANGO_SETTINGS_MODULE": "site_settings",
    }

    probe = run([python, "probe.py", str(ROOT)], cwd=project, env=env)

    url, commands = probe.stdout.splitlines()[-2:]
    assert url == "/berrymq/rpc/"
    assert "no issues" in probe.stdout + probe.stderr
    assert set(commands.split()) >= COMMANDS
