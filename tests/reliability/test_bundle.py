# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Bundles end to end, with the real ``ansible-playbook``: airgap.ecr.bundle_create against the emulator,
airgap.ecr.bundle_deliver to two local hosts; a delta after one changed layer; parts split and joined; a
missing part, a corrupt part and a delta whose base a host lacks, each refused before anything is written.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from ansible_collections.airgap.ecr.tests.emulator import images
from ansible_collections.airgap.ecr.tests.reliability.conftest import REGION
from ansible_collections.airgap.ecr.tests.reliability.conftest import tree_state
from ansible_collections.airgap.ecr.tests.reliability.conftest import verify_layout
from ansible_collections.airgap.ecr.tests.support.credentials import environment

APP, TOOL = "bundle/app", "bundle/tool"


@pytest.fixture(scope="module", name="pushed")
def pushed_fixture(emulator):
    """app:1.0 (Docker) and tool:2.0 (OCI) sharing a base layer; app:1.1 is app:1.0 with its last layer changed."""
    client = emulator.client("ecr")
    base = images.make_layer(48 * 1024, 7100)
    app = [base, images.make_layer(96 * 1024, 7101)]
    tool = [base, images.make_layer(64 * 1024, 7102)]
    changed = [base, images.make_layer(96 * 1024, 7103)]
    return {
        "app": images.push_image(client, APP, "1.0", app, images.make_config(app), media_type="docker"),
        "tool": images.push_image(client, TOOL, "2.0", tool, images.make_config(tool), media_type="oci"),
        "app2": images.push_image(client, APP, "1.1", changed, images.make_config(changed), media_type="docker"),
    }


@pytest.fixture(name="run")
def run_fixture(emu, ansible, monkeypatch):
    """Run one of the collection's playbooks with extra variables (as JSON); the emulator's credentials in the env."""
    for name, value in environment().items():
        monkeypatch.setenv(name, value)

    def run(playbook, hosts=None, **variables):
        inventory = ansible.inventory(hosts) if hosts else None
        plays = [{"ansible.builtin.import_playbook": f"airgap.ecr.{playbook}"}]
        return ansible.run(plays, inventory, args=["-e", json.dumps(variables)])

    return run


def create(run, emu, dest, refs, **extra):
    variables = dict(bundle_images=refs, bundle_dest=str(dest), aws_region=REGION, allow_http=True)
    variables["aws_endpoint_url"] = emu.endpoint_url
    result = run("bundle_create", **variables, **extra)
    assert result.rc == 0, result
    with open(os.path.join(dest, "bundle.json"), encoding="utf-8") as handle:
        return json.load(handle)


def deliver(run, src, hosts, work_dir):
    inventory = {name: {"dest": str(dest)} for name, dest in hosts.items()}
    return run(
        "bundle_deliver",
        hosts=inventory,
        bundle_src=str(src),
        bundle_work_dir=str(work_dir),
        airgap_hosts="fleet",
        image_fetch_dest="{{ dest }}",
        image_fetch_platform="linux/amd64",
    )


TWO = [{"repository": APP, "tag": "1.0"}, {"repository": TOOL, "tag": "2.0"}]


def test_bundle_of_two_images_delivered_to_two_hosts(run, emu, tmp_path, pushed):
    bundle = create(run, emu, tmp_path / "b1", TWO)
    check = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=tmp_path / "b1", check=False)
    assert check.returncode == 0
    assert not os.path.exists(tmp_path / ".b1.partial")
    blobs = {blob["digest"] for blob in bundle["blobs"]}
    # The shared base layer once: 2 configs, 3 distinct layers.
    assert len(blobs) == 5 and all(blob["in_bundle"] for blob in bundle["blobs"])
    names = {image["name"] for image in bundle["images"]}
    pushed_digests = {pushed["app"]["image_digest"], pushed["tool"]["image_digest"]}
    assert {image["image_digest"] for image in bundle["images"]} == pushed_digests
    with open(tmp_path / "b1" / "layout" / "index.json", encoding="utf-8") as handle:
        index = json.load(handle)
    assert {entry["annotations"]["io.containerd.image.name"] for entry in index["manifests"]} == names
    assert "extends: nothing" in (tmp_path / "b1" / "SUMMARY.txt").read_text()

    hosts = {"h1": tmp_path / "h1", "h2": tmp_path / "h2"}
    result = deliver(run, tmp_path / "b1", hosts, tmp_path / "work")
    assert result.rc == 0, result
    for dest in hosts.values():
        for tag in ("1.0", "2.0"):
            verify_layout(str(dest), tag)
        for digest in blobs:
            assert os.path.isfile(os.path.join(dest, "blobs", *digest.split(":")))
    again = deliver(run, tmp_path / "b1", hosts, tmp_path / "work")
    assert again.rc == 0 and "changed=0" in again.output, again


def test_delta_holds_only_the_changed_layer_and_needs_its_base(run, emu, tmp_path, pushed):
    create(run, emu, tmp_path / "b1", TWO)
    delta = create(
        run,
        emu,
        tmp_path / "b2",
        [{"repository": APP, "tag": "1.1"}, {"repository": TOOL, "tag": "2.0"}],
        bundle_since=str(tmp_path / "b1"),
    )
    inside = [blob for blob in delta["blobs"] if blob["in_bundle"]]
    changed = pushed["app2"]["layers"][1]["digest"]
    # Of the layers, only the changed one; besides it, only the new config (its diff_ids changed with the layer).
    assert [
        blob["digest"] for blob in inside if blob["digest"] in {layer["digest"] for layer in pushed["app2"]["layers"]}
    ] == [changed]
    assert sorted(blob["digest"] for blob in inside) == sorted([changed, pushed["app2"]["config"]["digest"]])
    assert delta["base"]["name"] == "b1" and delta["base"]["id"]
    on_disk = set(os.listdir(tmp_path / "b2" / "layout" / "blobs" / "sha256"))
    expected = {blob["digest"].split(":")[1] for blob in inside}
    expected |= {image["image_digest"].split(":")[1] for image in delta["images"]}
    assert on_disk == expected

    # A host without the base is refused, with the base's id and name, and nothing is written on it.
    refused = deliver(run, tmp_path / "b2", {"fresh": tmp_path / "fresh"}, tmp_path / "work")
    assert refused.rc != 0
    assert delta["base"]["id"] in refused.text and "(b1," in refused.text, refused
    assert not os.path.exists(tmp_path / "fresh")

    # A host with the base takes the delta.
    assert deliver(run, tmp_path / "b1", {"h1": tmp_path / "h1"}, tmp_path / "work").rc == 0
    result = deliver(run, tmp_path / "b2", {"h1": tmp_path / "h1"}, tmp_path / "work")
    assert result.rc == 0, result
    verify_layout(str(tmp_path / "h1"), "1.1")


def test_parts_are_joined_and_a_missing_or_corrupt_part_is_refused(run, emu, tmp_path, pushed):
    bundle = create(run, emu, tmp_path / "b1", TWO, bundle_part_size="64K")
    parts = bundle["parts"]["files"]
    assert len(parts) >= 3 and not os.path.exists(tmp_path / "b1" / "layout")
    assert all(part["size"] <= 64 * 1024 for part in parts)
    hosts = {"h1": tmp_path / "h1", "h2": tmp_path / "h2"}
    result = deliver(run, tmp_path / "b1", hosts, tmp_path / "work")
    assert result.rc == 0, result
    for dest in hosts.values():
        verify_layout(str(dest), "1.0")
        verify_layout(str(dest), "2.0")

    others = {"h3": tmp_path / "h3", "h4": tmp_path / "h4"}
    missing = tmp_path / "missing"
    shutil.copytree(tmp_path / "b1", missing)
    os.remove(missing / parts[1]["name"])
    refused = deliver(run, missing, others, tmp_path / "work-missing")
    assert refused.rc != 0 and f"{parts[1]['name']} is missing" in refused.text, refused

    corrupt = tmp_path / "corrupt"
    shutil.copytree(tmp_path / "b1", corrupt)
    with open(corrupt / parts[-1]["name"], "r+b") as handle:
        handle.seek(100)
        byte = handle.read(1)
        handle.seek(100)
        handle.write(bytes([byte[0] ^ 0xFF]))
    refused = deliver(run, corrupt, others, tmp_path / "work-corrupt")
    assert refused.rc != 0 and f"{parts[-1]['name']} is corrupt" in refused.text, refused
    for dest in others.values():
        assert tree_state(str(dest)) == [["(absent)"]]
    assert not os.path.exists(tmp_path / "work-missing") and not os.path.exists(tmp_path / "work-corrupt")


def test_a_blob_changed_after_the_verification_is_refused_on_the_host(ansible, emu, run, tmp_path, pushed):
    """The bytes sent are checked on the host against the digest, not against the controller's file: a blob of the
    verified layout changed before it is sent (a bundle on writable media) is refused, and nothing is laid out."""
    create(run, emu, tmp_path / "b1", TWO)
    base = pushed["app"]["layers"][0]["digest"]
    blob = tmp_path / "b1" / "layout" / "blobs" / "sha256" / base.split(":")[1]
    flip = "import sys; f = open(sys.argv[1], 'r+b'); b = f.read(1); f.seek(0); f.write(bytes([b[0] ^ 1]))"
    play = {
        "hosts": "fleet",
        "gather_facts": False,
        "tasks": [
            {
                "name": "Verify the bundle",
                "airgap.ecr.bundle": {"step": "verify", "src": str(tmp_path / "b1"), "work_dir": str(tmp_path / "w")},
                "delegate_to": "localhost",
                "run_once": True,
                "register": "verified",
            },
            {
                "name": "Change a blob of the verified layout",
                "ansible.builtin.command": {"argv": [sys.executable, "-c", flip, str(blob)]},
                "delegate_to": "localhost",
                "run_once": True,
            },
            {
                "name": "Deliver",
                "ansible.builtin.include_role": {"name": "airgap.ecr.image_fetch", "tasks_from": "bundle"},
                "vars": {
                    "image_fetch__bundle": "{{ verified }}",
                    "image_fetch_dest": "{{ dest }}",
                    "image_fetch_platform": "linux/amd64",
                },
            },
        ],
    }
    dest = tmp_path / "h1"
    result = ansible.run([play], ansible.inventory({"h1": {"dest": str(dest)}}))
    assert result.rc != 0 and base in result.text, result
    assert not os.path.exists(dest / "blobs" / "sha256" / base.split(":")[1])
    assert not os.path.exists(dest / "index.json")
    store = dest / "blobs" / "sha256"
    assert not store.exists() or [name for name in os.listdir(store) if name.startswith(".")] == []
