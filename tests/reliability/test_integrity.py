# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Integrity: corrupted, truncated or substituted content fails the module and the role, and nothing unverified
is ever left at a final path of the layout.

The emulator serves a blob with every byte flipped (GetObject ``corrupt``), a blob cut short
(``truncate``), a manifest whose bytes no longer have their digest (BatchGetImage ``corrupt``:
a space added, still valid JSON) and an index one of whose manifests was deleted.
"""

import os

import pytest

from ansible_collections.airgap.ecr.plugins.modules import blob_fetch
from ansible_collections.airgap.ecr.plugins.modules import ecr_image_layers
from ansible_collections.airgap.ecr.tests.emulator import images
from ansible_collections.airgap.ecr.tests.reliability.conftest import DEMO
from ansible_collections.airgap.ecr.tests.reliability.conftest import aws_args
from ansible_collections.airgap.ecr.tests.reliability.conftest import role_play
from ansible_collections.airgap.ecr.tests.reliability.conftest import run_module
from ansible_collections.airgap.ecr.tests.reliability.conftest import scaled
from ansible_collections.airgap.ecr.tests.reliability.conftest import stray_files
from ansible_collections.airgap.ecr.tests.reliability.conftest import unverified_final_files
from ansible_collections.airgap.ecr.tests.reliability.conftest import verify_layout

BROKEN = "reliability/broken-index"
TRUNCATE_AT = 1000


@pytest.fixture(scope="module", name="broken_index")
def broken_index_fixture(emulator):
    """An OCI index for linux/amd64 and linux/arm64 whose amd64 manifest was deleted afterwards."""
    client = emulator.client("ecr")
    children = []
    for seed, (arch, variant) in enumerate((("amd64", None), ("arm64", "v8"))):
        layer = images.make_layer(2048, 500 + seed)
        pushed = images.push_image(
            client, BROKEN, None, [layer], images.make_config([layer], arch=arch, variant=variant), media_type="oci"
        )
        platform = dict({"os": "linux", "architecture": arch}, **({"variant": variant} if variant else {}))
        children.append(dict(pushed, digest=pushed["image_digest"], platform=platform))
    index, media_type = images.make_index(children, "oci")
    pushed = images.push_manifest(client, BROKEN, "multi", index, media_type)
    # The emulator (moto) lets BatchDeleteImage remove a manifest that an index names.
    client.batch_delete_image(repositoryName=BROKEN, imageIds=[{"imageDigest": children[0]["digest"]}])
    return {"index": pushed["image_digest"], "missing": children[0]["digest"], "present": children[1]["digest"]}


def resolved_blobs(emulator):
    """The demo image's config and layers with fresh URLs, from ecr_image_layers."""
    failed, image = run_module(ecr_image_layers.main, repository=DEMO, image_tag="1.0", **aws_args(emulator))
    assert not failed, image["msg"]
    emulator.clear_requests()
    return [image["config"]] + image["layers"]


def downloads_of(emulator, digest):
    return [
        entry
        for entry in emulator.requests()
        if entry["operation"] == "GetObject" and entry["params"]["key"].endswith(digest)
    ]


def test_corrupted_blob_fails_and_leaves_nothing_at_its_path(emu, tmp_path, figures):
    blobs = resolved_blobs(emu)
    rounds = scaled([blobs[-1]], blobs)  # make stress: each blob of the image in turn
    for bad in rounds:
        emu.reset()
        dest = str(tmp_path / f"corrupt-{bad['digest'][7:19]}")
        emu.faults(operation="GetObject", count=None, corrupt=True, digest=bad["digest"])
        failed, result = run_module(blob_fetch.main, allow_http=True, blobs=blobs, dest=dest, retries=1)
        assert failed
        expected = (
            f"Could not fetch 1 of {len(blobs)} blob(s): {bad['digest']}: the downloaded content ({bad['size']} "
            "bytes) has the digest"
        )
        assert result["msg"].startswith(expected), result["msg"]
        assert f", not {bad['digest']} (after 2 attempts)" in result["msg"]
        assert not os.path.exists(os.path.join(dest, "blobs", "sha256", bad["digest"][7:]))
        assert not unverified_final_files(dest)
        assert not stray_files(dest), "a corrupted download is discarded, not kept to resume"
        assert [entry["status"] for entry in downloads_of(emu, bad["digest"])] == [200, 200]
        assert result["fetched"] == len(blobs) - 1
    figures.add(
        "integrity",
        "corrupted blob (every byte flipped): blobs tried / rejected / unverified files left",
        f"{len(rounds)} / {len(rounds)} / 0",
    )


def test_truncated_blob_fails_keeps_only_a_hidden_partial_and_resumes(emu, tmp_path, figures):
    blobs = resolved_blobs(emu)
    big = max(blobs, key=lambda blob: blob["size"])
    dest = str(tmp_path / "truncated")
    emu.faults(operation="GetObject", count=None, truncate=TRUNCATE_AT, digest=big["digest"])
    failed, result = run_module(blob_fetch.main, allow_http=True, blobs=blobs, dest=dest, retries=2)
    assert failed
    assert (
        f"{big['digest']}: the transfer was cut after {3 * TRUNCATE_AT} of {big['size']} bytes (after 3 attempts)"
        in result["msg"]
    )
    assert not os.path.exists(os.path.join(dest, "blobs", "sha256", big["digest"][7:]))
    assert not unverified_final_files(dest)
    assert stray_files(dest) == [f"blobs/sha256/.{big['digest'][7:]}.partial"]
    assert [entry["params"].get("range") for entry in downloads_of(emu, big["digest"])] == [
        None,
        f"bytes={TRUNCATE_AT}-",
        f"bytes={2 * TRUNCATE_AT}-",
    ]

    emu.reset()
    failed, result = run_module(blob_fetch.main, allow_http=True, blobs=blobs, dest=dest)
    assert not failed, result["msg"]
    fetched = {blob["digest"]: blob for blob in result["blobs"]}
    assert fetched[big["digest"]]["resumed_from"] == 3 * TRUNCATE_AT
    assert fetched[big["digest"]]["bytes"] == big["size"] - 3 * TRUNCATE_AT
    assert [entry["params"].get("range") for entry in downloads_of(emu, big["digest"])] == [f"bytes={3 * TRUNCATE_AT}-"]
    assert not unverified_final_files(dest) and not stray_files(dest)
    assert sorted(os.listdir(os.path.join(dest, "blobs", "sha256"))) == sorted(blob["digest"][7:] for blob in blobs)
    figures.add(
        "integrity",
        "truncated blob: kept at a final path / resumed from byte (next run)",
        f"0 / {fetched[big['digest']]['resumed_from']}",
    )


def test_manifest_not_matching_its_digest_is_refused(emu, demo):
    emu.faults(operation="BatchGetImage", count=None, corrupt=True)
    failed, result = run_module(ecr_image_layers.main, repository=DEMO, image_tag="1.0", **aws_args(emu))
    assert failed
    assert result["error_code"] == "DigestMismatch"
    assert result["msg"].startswith(f"the manifest of {DEMO}:1.0 bytes have the digest sha256:")
    assert f"not {demo['image_digest']} as expected: the manifest was altered or corrupted" in result["msg"]
    failed, result = run_module(
        ecr_image_layers.main, repository=DEMO, image_digest=demo["image_digest"], **aws_args(emu)
    )
    assert failed and result["error_code"] == "DigestMismatch"
    # No URL was asked for an image that could not be verified.
    assert {entry["operation"] for entry in emu.requests()} == {"BatchGetImage"}


def test_index_entry_not_matching_its_digest_is_refused(emu):
    index = next(
        image for image in emu.images() if image["repository"] == DEMO and images.DEMO_MULTI_TAG in image["tags"]
    )
    arm64 = next(entry for entry in index["manifests"] if entry["platform"]["architecture"] == "arm64")
    emu.faults(operation="BatchGetImage", count=None, corrupt=True, digest=arm64["digest"])
    failed, result = run_module(
        ecr_image_layers.main, repository=DEMO, image_tag="multi", platform="linux/arm64", **aws_args(emu)
    )
    assert failed and result["error_code"] == "DigestMismatch"
    assert (
        f"the manifest {DEMO}@{arm64['digest']} that the index of {DEMO}:multi names for linux/arm64/v8 bytes have "
        "the digest" in result["msg"]
    )
    failed, result = run_module(
        ecr_image_layers.main, repository=DEMO, image_tag="multi", platform="linux/amd64", **aws_args(emu)
    )
    assert not failed, result["msg"]


def test_index_pointing_to_a_missing_manifest_is_refused(emu, broken_index):
    failed, result = run_module(
        ecr_image_layers.main, repository=BROKEN, image_tag="multi", platform="linux/amd64", **aws_args(emu)
    )
    assert failed
    assert result["msg"].startswith(
        f"Could not get image {BROKEN}@{broken_index['missing']}: ImageNotFound: ECR has no image"
    )
    failed, result = run_module(
        ecr_image_layers.main, repository=BROKEN, image_tag="multi", platform="linux/arm64", **aws_args(emu)
    )
    assert not failed and result["image_digest"] == broken_index["present"]


def role_failure(emu, ansible, tmp_path, name, **role_vars):
    """Run the role on one host that fails; return the run and the host's layout directory."""
    dest = str(tmp_path / name)
    inventory = ansible.inventory({"host1": {"dest": dest}})
    run = ansible.run(role_play(emu, **role_vars), inventory)
    assert run.rc != 0, run
    return run, dest


def test_role_corrupted_blob(emu, ansible, tmp_path, demo):
    layer = demo["layers"][1]["digest"]
    emu.faults(operation="GetObject", count=None, corrupt=True, digest=layer)
    run, dest = role_failure(emu, ansible, tmp_path, "corrupt", image_fetch_tag="1.0")
    assert f"Could not fetch 1 of 4 blob(s): {layer}: the downloaded content" in run.output, run
    # The role resolved again and retried once: 3 attempts a run of blob_fetch.
    assert len(downloads_of(emu, layer)) == 6
    assert not unverified_final_files(dest) and not stray_files(dest)
    assert not os.path.exists(os.path.join(dest, "index.json"))


def test_role_truncated_blob_then_a_clean_run(emu, ansible, tmp_path, demo):
    layer = demo["layers"][2]["digest"]
    emu.faults(operation="GetObject", count=None, truncate=TRUNCATE_AT, digest=layer)
    run, dest = role_failure(emu, ansible, tmp_path, "truncated", image_fetch_tag="1.0")
    assert (
        f"{layer}: the transfer was cut after {6 * TRUNCATE_AT} of {demo['layers'][2]['size']} bytes (after 3 attempts)"
        in run.output
    ), run
    assert not unverified_final_files(dest)
    assert stray_files(dest) == [f"blobs/sha256/.{layer[7:]}.partial"]
    assert not os.path.exists(os.path.join(dest, "index.json"))
    emu.reset()
    run = ansible.run(role_play(emu, image_fetch_tag="1.0"), ansible.inventory({"host1": {"dest": dest}}))
    assert run.rc == 0, run
    assert [entry["params"].get("range") for entry in downloads_of(emu, layer)] == [f"bytes={6 * TRUNCATE_AT}-"]
    verify_layout(dest, "1.0")


def test_role_manifest_not_matching_its_digest(emu, ansible, tmp_path, demo):
    emu.faults(operation="BatchGetImage", count=None, corrupt=True)
    run, dest = role_failure(emu, ansible, tmp_path, "tampered", image_fetch_tag="1.0")
    assert (
        f"Could not resolve 1 of 1 images for platform linux/amd64: images[0]: the manifest of {DEMO}:1.0 bytes have "
        "the digest" in run.output
    ), run
    assert f"not {demo['image_digest']} as expected: the manifest was altered or corrupted" in run.output
    assert not os.path.exists(dest)


def test_role_index_pointing_to_a_missing_manifest(emu, ansible, tmp_path, broken_index):
    run, dest = role_failure(emu, ansible, tmp_path, "broken", image_fetch_repository=BROKEN, image_fetch_tag="multi")
    assert "Could not resolve 1 of 1 images for platform linux/amd64: images[0]: " in run.output, run
    # The set's resolution names the image as it was asked for (not yet the digest its index names).
    assert f"Could not get image {BROKEN}:multi: ImageNotFound" in run.output, run
    assert not os.path.exists(dest)
