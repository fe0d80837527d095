# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The module through its real entry point, against the local ECR emulator over HTTP."""

import hashlib
import json
import urllib.request

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.airgap.ecr.plugins.modules import ecr_layer_url
from ansible_collections.airgap.ecr.tests.emulator.harness import Emulator

REPOSITORY = "airgap/demo"


@pytest.fixture(scope="module", name="emulator")
def emulator_fixture():
    with Emulator(seed_demo=True) as emulator:
        yield emulator


@pytest.fixture(name="demo")
def demo_image(emulator):
    emulator.reset()
    emulator.clear_requests()
    image = next(i for i in emulator.images() if i["repository"] == REPOSITORY and "1.0" in i["tags"])
    return {"config": image["config"]["digest"], "layers": [layer["digest"] for layer in image["layers"]]}


def run_module(emulator, check_mode=False, **args):
    """Run main() as Ansible would and return (failed, result)."""
    args.setdefault("repository", REPOSITORY)
    module_args = dict(
        args,
        access_key="AKIAEMULATOR00000001",
        secret_key="emulator-secret-key-0001",
        region="us-east-1",
        endpoint_url=emulator.endpoint_url,
        _ansible_check_mode=check_mode,
    )
    with patch_module_args(module_args):
        with pytest.raises(SystemExit) as exit_info:
            ecr_layer_url.main()
    return exit_info.value.code != 0


def result_of(capsys):
    return json.loads(capsys.readouterr().out)


def fetch(url):
    with urllib.request.urlopen(url) as response:
        return response.read()


def test_one_digest(emulator, demo, capsys):
    assert not run_module(emulator, digest=demo["layers"][0])
    result = result_of(capsys)
    assert result["changed"] is False
    assert result["layer_digest"] == demo["layers"][0]
    assert result["expires_at"].endswith("Z")
    assert result["layers"] == [{k: result[k] for k in ("layer_digest", "download_url", "expires_at")}]
    assert "sha256:" + hashlib.sha256(fetch(result["download_url"])).hexdigest() == demo["layers"][0]
    calls = [r for r in emulator.requests() if r["operation"] == "GetDownloadUrlForLayer"]
    assert len(calls) == 1 and "registryId" not in calls[0]["params"]


def test_check_mode_returns_the_real_result(emulator, demo, capsys):
    assert not run_module(emulator, check_mode=True, digest=demo["config"])
    result = result_of(capsys)
    assert result["changed"] is False
    assert "sha256:" + hashlib.sha256(fetch(result["download_url"])).hexdigest() == demo["config"]


def test_many_digests_keep_order_and_resolve_duplicates_once(emulator, demo, capsys):
    wanted = list(reversed(demo["layers"])) + [demo["config"], demo["layers"][0]]
    assert not run_module(emulator, digests=wanted, concurrency=3, registry_id="123456789012")
    result = result_of(capsys)
    assert [layer["layer_digest"] for layer in result["layers"]] == wanted[:-1]
    assert "download_url" not in result
    calls = [r for r in emulator.requests() if r["operation"] == "GetDownloadUrlForLayer"]
    assert sorted(c["params"]["layerDigest"] for c in calls) == sorted(wanted[:-1])
    assert {c["params"]["registryId"] for c in calls} == {"123456789012"}


@pytest.mark.parametrize(
    "args, expected",
    [
        ({"repository": "Demo", "digest": "sha256:" + "a" * 64}, "repository 'Demo' is not a valid ECR repository name"),
        ({"digest": "sha256:" + "a" * 63}, "exactly 64 lowercase hexadecimal characters (it has 63)"),
        ({"digests": ["sha256:" + "a" * 64, "x"]}, "digests[1] 'x' is not a digest"),
        ({"digest": "sha256:" + "a" * 64, "registry_id": "1234"}, "registry_id '1234' is not a registry id"),
        ({"digests": ["sha256:" + "a" * 64], "concurrency": 100}, "concurrency 100 is out of range"),
    ],
)
def test_invalid_input_fails_before_any_request(emulator, demo, capsys, args, expected):
    assert run_module(emulator, **args)
    result = result_of(capsys)
    assert result["failed"] is True
    assert expected in result["msg"]
    assert emulator.requests() == []


def test_every_failing_digest_is_named(emulator, demo, capsys):
    absent = ["sha256:" + "e" * 64, "sha256:" + "f" * 64]
    assert run_module(emulator, digests=[demo["layers"][0], absent[0], demo["layers"][1], absent[1]])
    result = result_of(capsys)
    assert "2 of 4 layers" in result["msg"]
    assert f"LayersNotFoundException for {absent[0]}, {absent[1]}" in result["msg"]
    assert [f["layer_digest"] for f in result["failures"]] == absent


def test_secrets_are_not_in_the_output(emulator, demo, capsys):
    assert run_module(emulator, repository="airgap/absent", digest=demo["layers"][0])
    out = capsys.readouterr().out
    assert "RepositoryNotFoundException" in out
    assert "emulator-secret-key-0001" not in out


def test_user_agent_names_the_collection(emulator, demo, capsys):
    assert not run_module(emulator, digest=demo["layers"][0])
    capsys.readouterr()
    calls = [r for r in emulator.requests() if r["operation"] == "GetDownloadUrlForLayer"]
    assert "airgap.ecr/0.1.0" in calls[0]["user_agent"]
