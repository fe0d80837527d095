# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""image_fetch_via=controller under faults: a corrupt blob in the controller's cache is found and fetched again;
a host that has some blobs is sent only the rest; a transfer cut or damaged on the way is refused (nothing
unverified kept on the host) and a rerun completes. The hosts are refused plain-http URLs throughout: every
byte they get comes over their Ansible connection, and the emulator's request log counts the controller's
downloads."""

import os

import pytest

from ansible.plugins.connection import local

from ansible_collections.airgap.ecr.tests.reliability.conftest import role_play
from ansible_collections.airgap.ecr.tests.reliability.conftest import stray_files
from ansible_collections.airgap.ecr.tests.reliability.conftest import unverified_final_files
from ansible_collections.airgap.ecr.tests.reliability.conftest import verify_layout
from ansible_collections.airgap.ecr.tests.support.digests import file_digest

# The local connection, with the blob copies that blob_sync puts cut short (and the put failing, as when the
# connection drops) or changed by one byte, when FLAKY_PUT says so.
FLAKY_CONNECTION = """
import os

from ansible.errors import AnsibleError
from ansible.plugins.connection.local import Connection as LocalConnection

DOCUMENTATION = {doc!r}


class Connection(LocalConnection):
    transport = "flaky_local"

    def put_file(self, in_path, out_path):
        super().put_file(in_path, out_path)
        mode = os.environ.get("FLAKY_PUT")
        if not mode or not os.path.basename(out_path).startswith("blob-") or os.path.getsize(out_path) < 2:
            return
        size = os.path.getsize(out_path)
        with open(out_path, "r+b") as handle:
            if mode == "cut":
                handle.truncate(size // 2)
            else:
                handle.seek(size // 2)
                byte = handle.read(1)
                handle.seek(size // 2)
                handle.write(bytes([byte[0] ^ 1]))
        if mode == "cut":
            raise AnsibleError("the connection was lost while sending the file")
"""


def controller_play(emu, cache, **role_vars):
    variables = dict(
        image_fetch_tag="1.0",
        image_fetch_via="controller",
        image_fetch_cache_dir=cache,
        image_fetch_allow_http=False,  # the hosts: no URL may reach them
        image_fetch_cache_allow_http=True,  # the controller: the emulator's URLs are http://
    )
    variables.update(role_vars)
    return role_play(emu, **variables)


def downloads(emu, digest=None):
    return [
        entry
        for entry in emu.requests()
        if entry["operation"] == "GetObject" and (digest is None or entry["params"]["key"].endswith(digest))
    ]


def blob_path(root, digest):
    return os.path.join(root, "blobs", *digest.split(":", 1))


def demo_blobs(demo):
    return [demo["config"]] + demo["layers"]


@pytest.fixture(name="filled")
def filled_fixture(emu, ansible, tmp_path):
    """A cache filled (and a first host served) by a controller-mode run; returns (cache, first host's layout)."""
    cache, first = str(tmp_path / "cache"), str(tmp_path / "first")
    run = ansible.run(controller_play(emu, cache), ansible.inventory({"first": {"dest": first}}))
    assert run.rc == 0, run
    verify_layout(first, "1.0")
    emu.clear_requests()
    return cache, first


def test_a_corrupt_blob_in_the_cache_is_found_and_fetched_again(emu, ansible, tmp_path, demo, filled, figures):
    cache, _first = filled
    layer = demo["layers"][1]["digest"]
    with open(blob_path(cache, layer), "r+b") as handle:
        handle.seek(100)
        handle.write(b"\0corrupt\0")
    dest = str(tmp_path / "second")
    run = ansible.run(controller_play(emu, cache), ansible.inventory({"second": {"dest": dest}}))
    assert run.rc == 0, run
    assert file_digest(blob_path(cache, layer)) == layer
    assert len(downloads(emu, layer)) == len(downloads(emu)) == 1, downloads(emu)
    verify_layout(dest, "1.0")
    assert not stray_files(cache)
    figures.add("controller", "S3 downloads to repair one corrupt cache blob", len(downloads(emu)))


def test_a_host_with_some_blobs_is_sent_only_the_rest(emu, ansible, tmp_path, demo, filled):
    cache, first = filled
    blobs = demo_blobs(demo)
    partial = str(tmp_path / "partial")
    os.makedirs(os.path.join(partial, "blobs", "sha256"))
    for blob in blobs[:2]:  # the config and the first layer are there already
        os.link(blob_path(cache, blob["digest"]), blob_path(partial, blob["digest"]))
    inventory = ansible.inventory({"first": {"dest": first}, "partial": {"dest": partial}})
    run = ansible.run(controller_play(emu, cache), inventory)
    assert run.rc == 0, run
    rest = sum(blob["size"] for blob in blobs[2:])
    assert f"(2 fetched, 2 already present), {rest} bytes" in run.output, run
    assert f"(0 fetched, {len(blobs)} already present), 0 bytes" in run.output, run
    assert downloads(emu) == []  # every blob came from the cache
    verify_layout(partial, "1.0")


@pytest.mark.parametrize("damage", ["cut", "flip"])
def test_a_damaged_transfer_is_refused_and_a_rerun_completes(emu, ansible, tmp_path, demo, filled, monkeypatch, damage):
    cache, _first = filled
    plugins = tmp_path / "ansible" / "connection_plugins"
    plugins.mkdir(parents=True)
    doc = local.DOCUMENTATION.replace("name: local", "name: flaky_local", 1)
    (plugins / "flaky_local.py").write_text(FLAKY_CONNECTION.format(doc=doc), encoding="utf-8")
    dest = str(tmp_path / "host")
    inventory = ansible.inventory({"host": {"dest": dest, "ansible_connection": "flaky_local"}})
    monkeypatch.setenv("FLAKY_PUT", damage)
    run = ansible.run(controller_play(emu, cache), inventory)
    assert run.rc != 0, run
    expected = "sending " if damage == "cut" else "the controller's copy is right: the transfer damaged it"
    assert expected in run.output, run
    assert "Could not send 4 of 4 blob(s)" in run.output, run
    assert not unverified_final_files(dest) and not stray_files(dest)
    assert not any(os.path.exists(blob_path(dest, blob["digest"])) for blob in demo_blobs(demo))
    assert not os.path.exists(os.path.join(dest, "index.json"))
    assert os.listdir(tmp_path / "ansible" / "remote_tmp") == []  # the copies in Ansible's tmp are gone too
    monkeypatch.delenv("FLAKY_PUT")
    run = ansible.run(controller_play(emu, cache), inventory)
    assert run.rc == 0, run
    verify_layout(dest, "1.0")
    assert downloads(emu) == []
