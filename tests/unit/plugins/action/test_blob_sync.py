# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The blob_sync action plugin, with a connection that copies files into a local "host" directory and
airgap.ecr.blob_receive run through its real entry point in this process (as the host would run it)."""

import os
import shutil
from unittest.mock import MagicMock

import pytest

from ansible.errors import AnsibleError

from ansible_collections.airgap.ecr.plugins.action.blob_sync import ActionModule
from ansible_collections.airgap.ecr.plugins.module_utils.layout import Layout
from ansible_collections.airgap.ecr.plugins.module_utils.layout_sync import batches
from ansible_collections.airgap.ecr.plugins.modules import blob_receive
from ansible_collections.airgap.ecr.tests.support.digests import digest_of
from ansible_collections.airgap.ecr.tests.support.digests import make_data
from ansible_collections.airgap.ecr.tests.support.modules import run_module

BLOBS = [make_data(size, seed) for seed, size in enumerate((300_000, 5_000, 1_200_000, 0))]
ENTRIES = [dict(digest=digest_of(data), size=len(data)) for data in BLOBS]


class Shell:
    def __init__(self):
        self.tmpdir = None

    @staticmethod
    def join_path(*parts):
        return os.path.join(*parts)


class Host:
    """The connection and the module runs of one fake host; ``damage(data)`` changes what put_file writes."""

    def __init__(self, tmp_path):
        self.tmp_root = tmp_path / "host-tmp"
        self.tmp_root.mkdir()
        self.puts = []
        self.module_runs = []
        self.damage = None
        self.fail_put = None
        self.connection = MagicMock()
        self.connection._shell = Shell()  # pylint: disable=protected-access
        self.connection.put_file.side_effect = self.put_file

    def put_file(self, local, remote):
        self.puts.append(local)
        if self.fail_put:
            raise AnsibleError(self.fail_put)
        shutil.copyfile(local, remote)
        if self.damage:
            with open(remote, "rb") as handle:
                data = handle.read()
            with open(remote, "wb") as handle:
                handle.write(self.damage(data))

    def action(self, check_mode=False, **args):
        task = MagicMock(args=args, check_mode=check_mode, async_val=0, action="airgap.ecr.blob_sync")
        action = ActionModule(task, self.connection, MagicMock(), MagicMock(), MagicMock(), MagicMock())
        action._make_tmp_path = self.make_tmp  # pylint: disable=protected-access
        action._remove_tmp_path = self.remove_tmp  # pylint: disable=protected-access
        action._fixup_perms2 = lambda paths, execute=True: None  # pylint: disable=protected-access
        action._execute_module = self.execute_module  # pylint: disable=protected-access
        return action.run(task_vars={})

    def make_tmp(self, remote_user=None):  # pylint: disable=unused-argument
        path = self.tmp_root / f"ansible-tmp-{len(os.listdir(self.tmp_root))}"
        path.mkdir(mode=0o700)
        self.connection._shell.tmpdir = str(path)  # pylint: disable=protected-access
        return str(path)

    def remove_tmp(self, path, force=False):  # pylint: disable=unused-argument
        if path:
            shutil.rmtree(path)
        self.connection._shell.tmpdir = None  # pylint: disable=protected-access

    def execute_module(self, module_name, module_args, task_vars):  # pylint: disable=unused-argument
        assert module_name == "airgap.ecr.blob_receive"
        self.module_runs.append(module_args)
        check_mode = self.connection.check_mode
        failed, result = run_module(blob_receive.main, check_mode=check_mode, **module_args)
        return dict(result, failed=failed)


@pytest.fixture(name="src")
def src_fixture(tmp_path):
    """The controller's store: an OCI layout holding every blob of BLOBS."""
    store = Layout(str(tmp_path / "store"))
    for data in BLOBS:
        store.write_blob(data)
    return store


@pytest.fixture(name="host")
def host_fixture(tmp_path):
    host = Host(tmp_path)
    host.connection.check_mode = False
    return host


def sync(host, src, dest, check_mode=False, **args):
    host.connection.check_mode = check_mode
    return host.action(check_mode=check_mode, src=src.root, dest=str(dest), blobs=args.pop("blobs", ENTRIES), **args)


def test_sends_only_what_the_host_lacks_then_nothing(host, src, tmp_path):
    dest = Layout(str(tmp_path / "dest"))
    dest.write_blob(BLOBS[1])
    result = sync(host, src, dest.root)
    assert not result.get("failed"), result
    assert [e["status"] for e in result["blobs"]] == ["sent", "present", "sent", "sent"]
    assert (result["sent"], result["present"], result["total"], result["done"]) == (3, 1, 4, 4)
    assert result["bytes_sent"] == result["bytes"] == len(BLOBS[0]) + len(BLOBS[2])
    assert result["changed"]
    assert len(host.puts) == 3
    assert all(dest.has_blob(e["digest"], e["size"]) for e in ENTRIES)
    assert os.listdir(host.tmp_root) == []  # the temporary directory is gone
    again = sync(host, src, dest.root)
    assert (again["sent"], again["present"], again["changed"]) == (0, 4, False)
    assert len(host.puts) == 3


def test_check_mode_says_what_would_be_sent_and_sends_nothing(host, src, tmp_path):
    dest = tmp_path / "dest"
    result = sync(host, src, dest, check_mode=True)
    assert [e["status"] for e in result["blobs"]] == ["would_send"] * 4
    assert result["changed"] and result["sent"] == 0
    assert host.puts == [] and not dest.exists()


def test_a_transfer_that_damages_a_blob_is_refused_and_a_rerun_completes(host, src, tmp_path):
    dest = Layout(str(tmp_path / "dest"))
    host.damage = lambda data: data[: len(data) // 2]
    result = sync(host, src, dest.root)
    assert result["failed"]
    assert "Could not send 3 of 4 blob(s)" in result["msg"]
    assert "the controller's copy is right: the transfer damaged it" in result["msg"]
    assert [e["status"] for e in result["blobs"]] == ["failed", "failed", "failed", "sent"]  # the empty blob is whole
    assert not any(os.path.exists(dest.blob_path(e["digest"])) for e in ENTRIES[:3])
    host.damage = None
    again = sync(host, src, dest.root)
    assert not again.get("failed") and again["sent"] == 3 and again["present"] == 1


def test_a_damaged_source_blob_is_named(host, src, tmp_path):
    with open(src.blob_path(ENTRIES[0]["digest"]), "r+b") as handle:
        handle.write(b"Z")
    result = sync(host, src, tmp_path / "dest", blobs=ENTRIES[:1])
    assert result["failed"]
    assert "does not have this digest either: it is damaged" in result["msg"]


def test_a_failed_put_fails_that_blob_and_keeps_nothing(host, src, tmp_path):
    host.fail_put = "connection reset"
    result = sync(host, src, tmp_path / "dest", blobs=ENTRIES[:1])
    assert result["failed"] and "sending" in result["msg"] and "connection reset" in result["msg"]
    assert not os.path.exists(Layout(str(tmp_path / "dest")).blob_path(ENTRIES[0]["digest"]))
    assert os.listdir(host.tmp_root) == []


def test_blobs_missing_from_src_fail_before_anything_is_sent(host, src, tmp_path):
    unknown = make_data(10, 99)
    result = sync(host, src, tmp_path / "dest", blobs=ENTRIES + [dict(digest=digest_of(unknown), size=10)])
    assert result["failed"]
    assert "1 blob(s) the host lacks are not in src" in result["msg"]
    assert digest_of(unknown) in result["msg"] and "is not there" in result["msg"]
    assert host.puts == []


def test_a_blob_the_host_has_need_not_be_in_src(host, src, tmp_path):
    extra = make_data(10, 98)
    dest = Layout(str(tmp_path / "dest"))
    dest.write_blob(extra)
    result = sync(host, src, dest.root, blobs=[dict(digest=digest_of(extra), size=10)] + ENTRIES[:1])
    assert not result.get("failed") and result["sent"] == 1 and result["present"] == 1


def test_a_size_that_differs_in_src_is_refused_before_sending(host, src, tmp_path):
    entry = dict(ENTRIES[0], size=ENTRIES[0]["size"] + 1)
    result = sync(host, src, tmp_path / "dest", blobs=[entry])
    assert result["failed"] and "has 300000 bytes, not 300001" in result["msg"]
    assert host.puts == []


def test_a_symlink_in_src_is_never_read(host, src, tmp_path):
    secret = tmp_path / "secret"
    secret.write_bytes(BLOBS[0])
    path = src.blob_path(ENTRIES[0]["digest"])
    os.unlink(path)
    os.symlink(secret, path)
    result = sync(host, src, tmp_path / "dest", blobs=ENTRIES[:1])
    assert result["failed"] and "is not there (or not a regular file)" in result["msg"]
    assert host.puts == []


@pytest.mark.parametrize(
    "args, message",
    [
        (dict(blobs=[dict(digest="sha256:12", size=1)]), "blobs[0].digest 'sha256:12' is not a valid sha256 digest"),
        (dict(blobs=[dict(digest=ENTRIES[0]["digest"])]), "blobs[0].size None is not a size"),
        (dict(blobs=[]), "blobs is empty"),
        (dict(src="/nonexistent/store"), "src /nonexistent/store is not a directory"),
    ],
)
def test_bad_input_is_refused_before_the_host_is_asked(host, src, tmp_path, args, message):
    args = dict(dict(src=src.root, dest=str(tmp_path / "dest"), blobs=ENTRIES), **args)
    result = host.action(**args)
    assert result["failed"] and message in result["msg"]
    assert host.module_runs == [] and host.puts == []


def test_a_src_others_can_write_is_refused_unless_asked(host, src, tmp_path):
    os.chmod(src.root, 0o777)
    result = sync(host, src, tmp_path / "dest")
    assert result["failed"] and "writable by its group or by others" in result["msg"]
    result = sync(host, src, tmp_path / "dest", src_strict_modes=False)
    assert not result.get("failed") and result["sent"] == 4


def test_no_url_of_an_entry_reaches_the_host(host, src, tmp_path):
    blobs = [dict(entry, download_url="https://bucket.example/x?X-Amz-Signature=s") for entry in ENTRIES]
    result = sync(host, src, tmp_path / "dest", blobs=blobs)
    assert not result.get("failed")
    assert "X-Amz" not in repr(host.module_runs) and "X-Amz" not in repr(result)


def test_batches_keep_order_and_stay_under_the_limit():
    blobs = [dict(size=size) for size in (5, 5, 20, 1, 9)]
    assert [[b["size"] for b in batch] for batch in batches(blobs, limit=10)] == [[5, 5], [20], [1, 9]]
