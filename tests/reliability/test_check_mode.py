# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Check mode writes nothing on any host: the modules, the lookup and the role, with a tree hash before and after.

The hosts start in different states: no layout at all, a layout missing blobs with a stale
index.json and a cut download's ``.partial``, and a layout whose blob at a final path is
corrupted (which a real run would replace). The hash covers every file and directory
under the hosts' common parent: path, type, mode, size, mtime and content.
"""

import json
import os

from ansible_collections.airgap.ecr.plugins.modules import blob_fetch
from ansible_collections.airgap.ecr.plugins.modules import ecr_image_layers
from ansible_collections.airgap.ecr.plugins.modules import oci_layout
from ansible_collections.airgap.ecr.tests.reliability.conftest import DEMO
from ansible_collections.airgap.ecr.tests.reliability.conftest import aws_args
from ansible_collections.airgap.ecr.tests.reliability.conftest import role_play
from ansible_collections.airgap.ecr.tests.reliability.conftest import run_module
from ansible_collections.airgap.ecr.tests.reliability.conftest import scaled
from ansible_collections.airgap.ecr.tests.reliability.conftest import tree_hash
from ansible_collections.airgap.ecr.tests.reliability.conftest import tree_state


def prepare_hosts(emu, root, count):
    """``count`` host directories under ``root`` in various states; returns {host: dest}."""
    failed, image = run_module(ecr_image_layers.main, repository=DEMO, image_tag="1.0", **aws_args(emu))
    assert not failed, image["msg"]
    blobs = [image["config"]] + image["layers"]
    hosts = {}
    for number in range(count):
        name = f"host{number + 1}"
        dest = os.path.join(root, name, "layout")
        hosts[name] = dest
        state = number % 3
        if state == 0:
            continue  # nothing there yet
        failed, result = run_module(blob_fetch.main, allow_http=True, blobs=blobs[:2], dest=dest)
        assert not failed, result["msg"]
        if state == 1:
            with open(os.path.join(dest, "index.json"), "w", encoding="utf-8") as handle:
                json.dump({"schemaVersion": 2, "manifests": []}, handle)
            with open(os.path.join(dest, "blobs", "sha256", f".{blobs[3]['digest'][7:]}.partial"), "wb") as handle:
                handle.write(b"\0" * 1000)
        else:
            with open(os.path.join(dest, "blobs", "sha256", blobs[1]["digest"][7:]), "r+b") as handle:
                handle.write(b"corrupted")
    emu.clear_requests()
    return hosts, image


def test_modules_in_check_mode_write_nothing(emu, tmp_path, figures):
    root = str(tmp_path / "hosts")
    hosts, image = prepare_hosts(emu, root, 3)
    blobs = [image["config"]] + image["layers"]
    before = tree_state(root)
    for dest in hosts.values():
        failed, result = run_module(blob_fetch.main, allow_http=True, check_mode=True, blobs=blobs, dest=dest)
        assert not failed and result["changed"], result
        assert {blob["status"] for blob in result["blobs"]} <= {"would_fetch", "present"}
        failed, result = run_module(
            oci_layout.main,
            check_mode=True,
            dest=dest,
            manifest=image["manifest"],
            media_type=image["media_type"],
            ref_name="1.0",
            archive=os.path.join(dest, "..", "image.tar"),
        )
        assert not failed and result["changed"], result
    assert tree_state(root) == before
    assert not [entry for entry in emu.requests() if entry["operation"] == "GetObject"], "check mode downloads nothing"
    # The same without check mode does change the tree: the comparison can tell.
    failed, result = run_module(blob_fetch.main, allow_http=True, blobs=blobs, dest=hosts["host3"])
    assert not failed and result["blobs"][1]["replaced_corrupt"]
    assert tree_state(root) != before
    figures.add("check mode", "blob_fetch + oci_layout (module entry points), 3 hosts: tree hash unchanged", "yes")


def test_module_lookup_and_role_in_check_mode_write_nothing(emu, ansible, tmp_path, figures):
    root = str(tmp_path / "hosts")
    hosts, image = prepare_hosts(emu, root, scaled(3, 9))
    digest = image["layers"][0]["digest"]
    aws = aws_args(emu)
    plays = [
        {
            "name": "The building blocks",
            "hosts": "fleet",
            "gather_facts": False,
            "module_defaults": {"group/airgap.ecr.aws": aws},
            "tasks": [
                {
                    "name": "Resolve the image",
                    "airgap.ecr.ecr_image_layers": {"repository": DEMO, "image_tag": "1.0"},
                    "delegate_to": "localhost",
                    "run_once": True,
                    "register": "image",
                    "no_log": True,
                },
                {
                    "name": "Resolve one layer",
                    "airgap.ecr.ecr_layer_url": {"repository": DEMO, "digests": [digest]},
                    "delegate_to": "localhost",
                    "run_once": True,
                    "register": "layer",
                    "no_log": True,
                },
                {
                    "name": "Download",
                    "airgap.ecr.blob_fetch": {
                        "allow_http": True,
                        "blobs": "{{ [image.config] + image.layers }}",
                        "dest": "{{ dest }}",
                    },
                    "register": "fetched",
                    "no_log": True,
                },
                {
                    "name": "Lay out",
                    "airgap.ecr.oci_layout": {
                        "allow_http": True,
                        "dest": "{{ dest }}",
                        "manifest": "{{ image.manifest }}",
                        "media_type": "{{ image.media_type }}",
                        "ref_name": "1.0",
                        "archive": "{{ dest }}.tar",
                    },
                    "register": "layout",
                },
                {
                    "name": "Write a URL from the lookup",
                    "ansible.builtin.copy": {
                        "dest": "{{ dest }}/../url.txt",
                        "mode": "0600",
                        "content": "{{ lookup('airgap.ecr.ecr_layer_url', '"
                        + digest
                        + "', repository='"
                        + DEMO
                        + "', access_key='"
                        + aws["access_key"]
                        + "', secret_key='"
                        + aws["secret_key"]
                        + "', endpoint_url='"
                        + aws["endpoint_url"]
                        + "', region='"
                        + aws["region"]
                        + "') }}",
                    },
                    "no_log": True,
                    "register": "copied",
                },
                {
                    "name": "Check mode reported changes to make",
                    "ansible.builtin.assert": {
                        "that": [
                            "fetched is changed",
                            "layout is changed",
                            "copied is changed",
                            "layer.layers | length == 1",
                            "image.layers | length == 3",
                        ]
                    },
                },
            ],
        },
        role_play(emu, image_fetch_tag="1.0", image_fetch_archive="{{ dest }}.tar")[0],
    ]
    before = tree_hash(root)
    state = tree_state(root)
    run = ansible.run(
        plays, ansible.inventory({name: {"dest": dest} for name, dest in hosts.items()}), args=["--check", "--diff"]
    )
    assert run.rc == 0, run
    assert tree_state(root) == state
    assert tree_hash(root) == before
    assert "would fetch" in run.output
    log = emu.requests()
    assert not [entry for entry in log if entry["operation"] == "GetObject"], "check mode downloads nothing"
    assert {entry["operation"] for entry in log} == {"BatchGetImage", "GetDownloadUrlForLayer"}
    figures.add(
        "check mode",
        f"modules + lookup + role with --check, {len(hosts)} hosts in 3 states: tree hash before = after",
        f"{before[:12]} = {tree_hash(root)[:12]}",
    )
