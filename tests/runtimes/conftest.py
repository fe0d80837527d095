# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures: real daemons in a temporary directory, stopped at the end of the session even on failure."""

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import daemons
import images
import pki

from ansible_collections.airgap.ecr.tests.emulator.harness import Emulator

USERNAME = "pusher"
# A password no message may ever show.
PASSWORD = "s3cret-Pa55-do-not-print"


def pytest_collection_modifyitems(items):
    if os.geteuid() != 0:
        for item in items:
            item.add_marker(
                pytest.mark.skip(reason="the runtime tests start containerd, dockerd and registries as root")
            )


@pytest.fixture(scope="session")
def workdir():
    # Short, so that unix socket paths stay under 108 bytes.
    directory = tempfile.mkdtemp(prefix="airgap-rt-", dir="/tmp")
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def _subdir(workdir, name):
    path = os.path.join(workdir, name)
    os.makedirs(path, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def containerd(workdir):
    daemon = daemons.start_containerd(_subdir(workdir, "c"))
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session")
def dockerd(workdir, containerd):
    daemon = daemons.start_dockerd(_subdir(workdir, "d"), containerd.socket)
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session")
def podman_env(workdir):
    return daemons.podman_environ(_subdir(workdir, "p"))


@pytest.fixture(scope="session")
def tls_files(workdir):
    return pki.make_tls(_subdir(workdir, "pki"))


@pytest.fixture(scope="session")
def registry_plain(workdir):
    daemon = daemons.start_registry(_subdir(workdir, "r"), "plain")
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session")
def registry_basic(workdir, tls_files):
    directory = _subdir(workdir, "r")
    line = subprocess.run(["htpasswd", "-Bbn", USERNAME, PASSWORD], capture_output=True, check=True, text=True).stdout
    with open(os.path.join(directory, "htpasswd"), "w", encoding="utf-8") as handle:
        handle.write(line.strip() + "\n")
    auth = f"auth:\n  htpasswd:\n    realm: airgap-test\n    path: {directory}/htpasswd\n"
    daemon = daemons.start_registry(directory, "basic", auth, tls=tls_files[1:])
    daemon.ca = tls_files[0]
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session")
def registry_token(workdir):
    directory = _subdir(workdir, "r")
    server = pki.TokenServer(directory, USERNAME, PASSWORD)
    try:
        daemon = daemons.start_registry(directory, "token", server.auth_yaml())
    except Exception:
        server.stop()
        raise
    daemon.token_server = server
    yield daemon
    daemon.stop()
    server.stop()


@pytest.fixture(scope="session", name="emulator")
def emulator_fixture():
    """The ECR emulator with its demo images, SigV4 checked: one for the session, its start is slow."""
    with Emulator(seed_demo=True, auth=True) as emulator:
        yield emulator


@pytest.fixture(name="pair")
def pair_fixture(request):
    """Two fresh images sharing a base layer, named after the test (so tests never share names)."""
    prefix = "t-" + "".join(c if c.isalnum() else "-" for c in request.node.name.lower()).strip("-")[:40].strip("-")
    return images.build_pair(prefix)


def run(argv, env=None):
    """A command's stdout; fails the test with its stderr."""
    done = subprocess.run(argv, capture_output=True, text=True, check=False, env=dict(os.environ, **(env or {})))
    assert done.returncode == 0, f"{argv} failed: {done.stderr}"
    return done.stdout
