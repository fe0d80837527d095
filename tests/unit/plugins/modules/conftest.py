# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Run modules through their real entry point against the local ECR emulator over HTTP."""

import json
import urllib.request

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.airgap.ecr.tests.emulator.harness import Emulator

FULL_ACCESS = {"access_key": "AKIAEMULATOR00000001", "secret_key": "emulator-secret-key-0001"}


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
def run_module_fixture(fresh_emulator, capsys):
    """``run_module(main, check_mode=False, **args) -> (failed, result)``, with the emulator's credentials."""

    def run(main, check_mode=False, **args):
        module_args = dict(FULL_ACCESS, region="us-east-1", endpoint_url=fresh_emulator.endpoint_url, _ansible_check_mode=check_mode)
        module_args.update(args)
        with patch_module_args(module_args):
            with pytest.raises(SystemExit) as exit_info:
                main()
        return exit_info.value.code != 0, json.loads(capsys.readouterr().out)

    return run


def fetch(url):
    with urllib.request.urlopen(url) as response:
        return response.read()


def demo_image(emulator, tag="1.0"):
    return next(i for i in emulator.images() if i["repository"] == "airgap/demo" and tag in i["tags"])
