# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The blob_sync action's bookkeeping on the controller: batches to send, and the task's result.

The result has blob_sync's own keys (``sent``, ``present``, ``bytes_sent``, each blob's status) and
the keys of a download's result (``total``, ``done``, ``fetched``, ``bytes``, ``seconds``,
``throughput``, ``blobs``), so that what sums up a download sums up a transfer too. No Ansible and no
network here: it is tested on its own.
"""

from ansible_collections.airgap.ecr.plugins.module_utils.layout_receive import STATUS_FAILED
from ansible_collections.airgap.ecr.plugins.module_utils.layout_receive import STATUS_MISSING
from ansible_collections.airgap.ecr.plugins.module_utils.layout_receive import STATUS_PRESENT
from ansible_collections.airgap.ecr.plugins.module_utils.layout_receive import STATUS_RECEIVED

STATUS_SENT = "sent"
STATUS_WOULD_SEND = "would_send"
# The bytes put into Ansible's temporary directory on a host before they are taken into the layout:
# the host needs this much room there at most (a bigger blob goes alone).
BATCH_BYTES = 1024**3


def batches(blobs, limit=BATCH_BYTES):
    """``blobs`` in order, cut into lists of at most ``limit`` bytes each (a bigger blob alone)."""
    current, size = [], 0
    for blob in blobs:
        if current and size + blob["size"] > limit:
            yield current
            current, size = [], 0
        current.append(blob)
        size += blob["size"]
    if current:
        yield current


def _entry(blob, state, check_mode):
    status = {STATUS_RECEIVED: STATUS_SENT, STATUS_PRESENT: STATUS_PRESENT}.get(state.get("status"), STATUS_FAILED)
    if state.get("status") == STATUS_MISSING:
        status = STATUS_WOULD_SEND if check_mode else STATUS_FAILED
    entry = dict(
        digest=blob["digest"],
        size=blob["size"],
        status=status,
        replaced_corrupt=bool(state.get("replaced_corrupt")),
    )
    if status == STATUS_FAILED:
        entry["error"] = state.get("error") or "it was not sent"
    if state.get("source"):
        entry["source"] = state["source"]
    return entry


def sync_result(blobs, states, check_mode, seconds, source):
    """The task result of blob_sync from each blob's last state (blob_receive's entries, by digest)."""
    entries = [_entry(blob, states.get(blob["digest"], {}), check_mode) for blob in blobs]
    sent = [e for e in entries if e["status"] == STATUS_SENT]
    present = sum(1 for e in entries if e["status"] == STATUS_PRESENT)
    bytes_sent = sum(e["size"] for e in sent)
    seconds = round(seconds, 3)
    result = dict(
        changed=any(e["status"] in (STATUS_SENT, STATUS_WOULD_SEND) or e["replaced_corrupt"] for e in entries),
        src=source.root,
        sent=len(sent),
        present=present,
        bytes_sent=bytes_sent,
        blobs=entries,
        total=len(entries),
        done=len(sent) + present,
        fetched=len(sent),
        bytes=bytes_sent,
        seconds=seconds,
        throughput=round(bytes_sent / seconds, 1) if seconds > 0 else 0.0,
    )
    failures = [e for e in entries if e["status"] == STATUS_FAILED]
    if failures:
        details = "; ".join(f"{e['digest']}: {e['error']}" for e in failures)
        result.update(failed=True, msg=f"Could not send {len(failures)} of {len(entries)} blob(s): {details}")
    return result
