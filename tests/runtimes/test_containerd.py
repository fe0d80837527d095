# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""load_containerd against a real containerd: names, ECR's digest, idempotence, check mode, failures."""

import os

import pytest
from conftest import run

from ansible_collections.airgap.ecr.plugins.module_utils.load_containerd import ContainerdLoader
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_exec import Runner
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_image import ImageInputError
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_image import RuntimeLoadError


def listed(containerd, namespace):
    """``{name: digest}`` as ``ctr images ls`` shows them."""
    lines = run(["ctr", "-a", containerd.socket, "-n", namespace, "images", "ls"]).splitlines()[1:]
    return {line.split()[0]: line.split()[2] for line in lines}


def test_load_by_name_and_digest_then_nothing(containerd, pair):
    loader = ContainerdLoader(address=containerd.socket, namespace="airgap-one")
    for image in pair:
        first = loader.load(image.runtime_image())
        assert first["changed"] and first["actions"][0].startswith("import")
        assert listed(containerd, "airgap-one")[image.name] == image.digest
        assert listed(containerd, "airgap-one")[image.pinned] == image.digest
        # The manifest bytes are ECR's, unchanged: a Docker schema 2 manifest stays Docker schema 2.
        stored = run(["ctr", "-a", containerd.socket, "-n", "airgap-one", "content", "get", image.digest])
        assert stored.encode() == image.manifest
        check = run(["ctr", "-a", containerd.socket, "-n", "airgap-one", "images", "check", f"name=={image.name}"])
        assert "complete" in check and check.split()[-1] == "true", check
    for image in pair:
        image.opened.clear()
        again = loader.load(image.runtime_image())
        assert not again["changed"] and again["actions"] == []
        assert image.opened == [], "a second load read blobs: it imported again"


def test_check_mode_changes_nothing(containerd, pair):
    image = pair[0]
    # The address may also be given as a unix:// URL, as k3s and RKE2 documentation write it.
    loader = ContainerdLoader(address=f"unix://{containerd.socket}", namespace="airgap-check")
    would = loader.load(image.runtime_image(), check_mode=True)
    assert would["changed"] and "would import" in would["msg"] and would["check_mode"]
    assert image.name not in listed(containerd, "airgap-check") and image.opened == []


def test_missing_full_name_is_tagged_without_import(containerd, pair):
    image = pair[1]
    loader = ContainerdLoader(address=containerd.socket, namespace="airgap-tag")
    loader.load(image.runtime_image())
    run(["ctr", "-a", containerd.socket, "-n", "airgap-tag", "images", "rm", image.name])
    image.opened.clear()
    again = loader.load(image.runtime_image())
    assert again["changed"] and again["actions"] == [f"tag {image.name}"] and image.opened == []
    assert listed(containerd, "airgap-tag")[image.name] == image.digest


def test_moved_tag_is_imported_again_and_kept_on_failure(containerd, pair):
    one, two = pair
    loader = ContainerdLoader(address=containerd.socket, namespace="airgap-moved")
    loader.load(one.runtime_image())
    broken = two.blobs[two.layer_digests()[1]]
    two.blobs[two.layer_digests()[1]] = bytes(len(broken))
    with pytest.raises(RuntimeLoadError):
        loader.load(two.runtime_image(name=one.name))
    # The refused image did not take the name: it still means the image that was there.
    assert listed(containerd, "airgap-moved") == {one.name: one.digest, one.pinned: one.digest}
    two.blobs[two.layer_digests()[1]] = broken
    moved = loader.load(two.runtime_image(name=one.name))
    assert moved["changed"]
    assert listed(containerd, "airgap-moved")[one.name] == two.digest


def test_missing_socket_says_what_to_do(workdir, pair):
    socket = os.path.join(workdir, "no-such", "containerd.sock")
    with pytest.raises(RuntimeLoadError) as error:
        ContainerdLoader(address=socket).load(pair[0].runtime_image())
    message = str(error.value)
    assert f"containerd socket {socket} not found" in message and "is containerd running?" in message
    assert "image_fetch_containerd_address" in message and pair[0].name in message


def test_refused_import_names_runtime_and_image(containerd, pair):
    image = pair[0]
    layer = image.layer_digests()[1]
    image.blobs[layer] = bytes(len(image.blobs[layer]))
    with pytest.raises(RuntimeLoadError) as error:
        ContainerdLoader(address=containerd.socket, namespace="airgap-bad").load(image.runtime_image())
    assert str(error.value).startswith(f"containerd: {image.name}: 'ctr images import' failed: ")
    assert listed(containerd, "airgap-bad") == {}, "a refused import left a name behind"


def test_short_blob_stops_the_import(containerd, pair):
    image = pair[0]
    image.blobs[image.layer_digests()[1]] = b"truncated"
    with pytest.raises(RuntimeLoadError) as error:
        ContainerdLoader(address=containerd.socket, namespace="airgap-short").load(image.runtime_image())
    assert str(error.value) == (
        f"containerd: {image.name}: reading the image's blobs failed (unexpected end of data): "
        "the local copy is damaged, fetch it again"
    )
    assert listed(containerd, "airgap-short") == {}


def test_missing_ctr_binary(containerd, pair):
    with pytest.raises(
        RuntimeLoadError, match="the command '/nonexistent/ctr' was not found: install containerd's ctr"
    ):
        ContainerdLoader(address=containerd.socket, ctr="/nonexistent/ctr").load(pair[0].runtime_image())


@pytest.mark.parametrize(
    "options, expected",
    [
        ({"address": "relative/containerd.sock"}, "containerd address 'relative/containerd.sock' is not a socket path"),
        ({"namespace": "k8s io"}, "containerd namespace 'k8s io' is not valid"),
        ({"snapshotter": "over lay"}, "containerd snapshotter 'over lay' is not a snapshotter name"),
    ],
)
def test_bad_options_rejected_before_any_call(options, expected):
    with pytest.raises(ImageInputError, match=expected):
        ContainerdLoader(**options)


def test_client_that_hangs_is_stopped(workdir, pair):
    """A client that neither reads nor exits is stopped at the deadline, and the message says so."""
    runner = Runner("containerd", pair[0].name, "sleep", "install coreutils", timeout=1)
    with pytest.raises(RuntimeLoadError, match=r"'sleep' did not finish in 1 s and was stopped"):
        runner.run(["30"], feed=lambda stream: stream.write(b"x" * (1 << 20)))
