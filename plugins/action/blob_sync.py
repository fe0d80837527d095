# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The blob_sync action: send a host, over its Ansible connection, only the blobs its layout lacks.

On the controller: check the arguments; ask the host which blobs its layout has, verified (the
airgap.ecr.blob_receive module); check that every missing blob is in ``src`` with its size, before
anything is sent; put the missing blobs into Ansible's private temporary directory on the host, a
batch at a time; and have blob_receive verify each copy and move it into the layout. Nothing is
sent in check mode. The source store is read through ``Layout`` (no symlink followed, and by default
its directories must pass the directory rule), and a source file is sent only while its name is the
file that was checked.
"""

import os
import time

from ansible.errors import AnsibleAction
from ansible.errors import AnsibleActionFail
from ansible.errors import AnsibleConnectionFailure
from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase

from ansible_collections.airgap.ecr.plugins.module_utils.digests import hash_stream
from ansible_collections.airgap.ecr.plugins.module_utils.digests import matches
from ansible_collections.airgap.ecr.plugins.module_utils.digests import split_digest
from ansible_collections.airgap.ecr.plugins.module_utils.layout import LAYOUT_ARGUMENT_SPEC
from ansible_collections.airgap.ecr.plugins.module_utils.layout import Layout
from ansible_collections.airgap.ecr.plugins.module_utils.layout_receive import FILE_ARGUMENT_SPEC
from ansible_collections.airgap.ecr.plugins.module_utils.layout_receive import STATUS_FAILED
from ansible_collections.airgap.ecr.plugins.module_utils.layout_receive import STATUS_MISSING
from ansible_collections.airgap.ecr.plugins.module_utils.layout_receive import normalize_entries
from ansible_collections.airgap.ecr.plugins.module_utils.layout_sync import batches
from ansible_collections.airgap.ecr.plugins.module_utils.layout_sync import sync_result
from ansible_collections.airgap.ecr.plugins.module_utils.validation import ValidationError

RECEIVER = "airgap.ecr.blob_receive"
ARGUMENT_SPEC = dict(
    src=dict(type="str", required=True),
    dest=dict(type="str", required=True),
    blobs=dict(type="list", elements="raw", required=True),
    src_strict_modes=dict(type="bool", default=True),
    **FILE_ARGUMENT_SPEC,
    **LAYOUT_ARGUMENT_SPEC,
)
LAYOUT_OPTIONS = ("dest", "strict_modes", "dir_mode", "mode", "owner", "group")


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        try:
            result.update(self._sync(task_vars or {}))
        except AnsibleAction as e:
            result.update(e.result_contribution)
        finally:
            self._clean_up()
        return result

    def _clean_up(self):
        try:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        except AnsibleError:  # the connection is gone: the host keeps an unverified copy only in Ansible's tmp
            pass

    def _request(self):
        """The checked arguments, the source store and the blobs; AnsibleActionFail before anything is sent."""
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        try:
            blobs = normalize_entries([_plain(entry) for entry in args["blobs"]])
        except ValidationError as e:
            raise AnsibleActionFail(str(e)) from None
        src = os.path.expanduser(args["src"])
        if not os.path.isdir(src):
            raise AnsibleActionFail(f"src {src} is not a directory: give the controller's blob store (an OCI layout)")
        source = Layout(src, strict_modes=args["src_strict_modes"])
        try:
            source.check()
        except OSError as e:
            raise AnsibleActionFail(f"src {src} cannot be used: {e}") from None
        layout = {name: args[name] for name in LAYOUT_OPTIONS if args[name] is not None}
        return source, blobs, layout

    def _sync(self, task_vars):
        started = time.monotonic()
        source, blobs, layout = self._request()
        states = self._receive(task_vars, layout, [dict(digest=b["digest"], size=b["size"]) for b in blobs])
        missing = [blob for blob in blobs if states[blob["digest"]]["status"] == STATUS_MISSING]
        problems = _check_sources(source, missing)
        if problems and not self._task.check_mode:
            raise AnsibleActionFail(
                f"{len(problems)} blob(s) the host lacks are not in src as they should be, so nothing was sent: "
                + "; ".join(problems.values())
            )
        for digest, problem in problems.items():  # check mode: told, as the cache would be filled first
            states[digest]["source"] = problem
        if not self._task.check_mode:
            for batch in batches(missing):
                states.update(self._send(task_vars, source, layout, batch))
        return sync_result(blobs, states, self._task.check_mode, time.monotonic() - started, source)

    def _receive(self, task_vars, layout, entries):
        """blob_receive's entry for each digest; AnsibleActionFail when the module failed for the whole layout."""
        answer = self._execute_module(
            module_name=RECEIVER, module_args=dict(layout, blobs=entries), task_vars=task_vars
        )
        if answer.get("failed") and not answer.get("blobs"):
            raise AnsibleActionFail(f"{layout['dest']} on this host: {answer.get('msg', 'blob_receive failed')}")
        return {entry["digest"]: entry for entry in answer.get("blobs", [])}

    def _send(self, task_vars, source, layout, batch):
        """Put one batch of blobs into Ansible's temporary directory on the host, then have them taken in."""
        tmpdir = self._connection._shell.tmpdir or self._make_tmp_path()
        staged, failed = [], {}
        for blob in batch:
            remote = self._connection._shell.join_path(tmpdir, "blob-{}-{}".format(*split_digest(blob["digest"])))
            try:
                self._put(source, blob, remote)
            except (AnsibleActionFail, OSError) as e:
                failed[blob["digest"]] = dict(blob, status=STATUS_FAILED, replaced_corrupt=False, error=str(e))
                continue
            staged.append(dict(digest=blob["digest"], size=blob["size"], staged=remote))
        if not staged:
            return failed
        self._fixup_perms2([tmpdir] + [entry["staged"] for entry in staged], execute=False)
        states = self._receive(task_vars, layout, staged)
        for entry in states.values():
            if entry["status"] == STATUS_FAILED and "digest" in entry.get("error", ""):
                entry["error"] += _source_verdict(source, entry["digest"])
        return dict(states, **failed)

    def _put(self, source, blob, remote):
        """Send the source file of ``blob``, opened without following a symlink, while its name is that file."""
        path = source.blob_path(blob["digest"])
        with source.open_blob(blob["digest"]) as handle:
            opened = os.fstat(handle.fileno())
            if opened.st_size != blob["size"]:
                raise AnsibleActionFail(
                    f"the controller's copy {path} has {opened.st_size} bytes, not {blob['size']}: it is not sent"
                )
            _same_file(opened, path)
            try:
                self._transfer_file(path, remote)
            except AnsibleConnectionFailure:
                raise
            except AnsibleError as e:
                raise AnsibleActionFail(f"sending {path} to the host failed: {e}") from None
            _same_file(opened, path)


def _plain(entry):
    """A blob entry as plain data (the keys blob_sync reads); anything else is left for normalize_entries to refuse."""
    if isinstance(entry, dict):
        return {key: entry.get(key) for key in ("digest", "size")}
    return entry


def _same_file(opened, path):
    """Refuse to send ``path`` unless its name is (still) the regular file opened as ``opened``."""
    try:
        now = os.lstat(path)
    except OSError:
        now = None
    if now is None or (now.st_dev, now.st_ino) != (opened.st_dev, opened.st_ino):
        raise AnsibleActionFail(f"{path} was replaced while it was sent: someone else writes in src; it is not sent")


def _check_sources(source, missing):
    """``{digest: problem}`` of the blobs the host lacks that are not in ``src`` as a regular file of their size."""
    problems = {}
    for blob in missing:
        try:
            size = source.blob_size(blob["digest"])
        except OSError as e:
            problems[blob["digest"]] = f"{blob['digest']}: {e}"
            continue
        if size != blob["size"]:
            found = "is not there (or not a regular file)" if size is None else f"has {size} bytes, not {blob['size']}"
            problems[blob["digest"]] = f"{blob['digest']}: {source.blob_path(blob['digest'])} {found}"
    return problems


def _source_verdict(source, digest):
    """After a copy was refused on the host: whether the controller's own copy has the right digest."""
    try:
        with source.open_blob(digest) as handle:
            good = matches(hash_stream(handle, digest)[1], digest)
    except OSError:
        return ""
    if good:
        return " (the controller's copy is right: the transfer damaged it; run the task again)"
    return (
        f" (the controller's copy {source.blob_path(digest)} does not have this digest either: it is damaged; "
        "remove it, or fill the cache again, which finds and fetches it again)"
    )
