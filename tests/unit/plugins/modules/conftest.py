# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Run modules through their real entry point against the local ECR emulator over HTTP."""

import urllib.request

import pytest

from ansible_collections.airgap.ecr.tests.emulator.harness import Emulator
from ansible_collections.airgap.ecr.tests.support.credentials import aws_options
from ansible_collections.airgap.ecr.tests.support.modules import run_module


@pytest.fixture(scope="session", name="emulator")
def emulator_fixture():
    with Emulator(seed_demo=True, auth=True) as emulator:
        yield emulator


@pytest.fixture(name="fresh_emulator")
def fresh_emulator_fixture(emulator):
    """The shared emulator with no faults and an empty request log."""
    emulator.reset()
    emulator.clear_requests()
    return emulator


@pytest.fixture(name="run_module")
def run_module_fixture(fresh_emulator):
    """``run_module(main, check_mode=False, **args) -> (failed, result)``, with the emulator's credentials."""

    def run(main, check_mode=False, **args):
        return run_module(main, check_mode, **aws_options(fresh_emulator.endpoint_url, **args))

    return run


def fetch(url):
    with urllib.request.urlopen(url) as response:
        return response.read()


def demo_image(emulator, tag="1.0"):
    return next(i for i in emulator.images() if i["repository"] == "airgap/demo" and tag in i["tags"])
