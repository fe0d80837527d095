# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The downloader, many blobs: each one through ``downloader.BlobFetch``, within one connection budget.

The checks before the first request (``download_checks.py``), the blobs fetched concurrently, and the
batch's result and failure message. Runs on target hosts: standard library only.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.airgap.ecr.plugins.module_utils.download_checks import check_free_space
from ansible_collections.airgap.ecr.plugins.module_utils.download_checks import check_sources
from ansible_collections.airgap.ecr.plugins.module_utils.downloader import DEFAULT_CONCURRENCY
from ansible_collections.airgap.ecr.plugins.module_utils.downloader import STATUS_FAILED
from ansible_collections.airgap.ecr.plugins.module_utils.downloader import STATUS_FETCHED
from ansible_collections.airgap.ecr.plugins.module_utils.downloader import STATUS_PRESENT
from ansible_collections.airgap.ecr.plugins.module_utils.downloader import STATUS_WOULD_FETCH
from ansible_collections.airgap.ecr.plugins.module_utils.downloader import BlobFetch


def _present_result(layout, digest):
    return dict(
        digest=digest,
        path=layout.blob_path(digest),
        status=STATUS_PRESENT,
        bytes=0,
        size=layout.blob_size(digest),
        seconds=0.0,
        resumed_from=0,
        replaced_corrupt=False,
    )


def fetch_blobs(opener, blobs, layout, concurrency=DEFAULT_CONCURRENCY, check_mode=False, limits=None, **fetch_options):
    """Fetch or verify every blob of ``normalize_blobs()`` into ``layout``, over ``concurrency`` connections at most.

    ``limits`` (max_size, deadline, range_threshold, range_size; DEFAULT_LIMITS) and ``fetch_options``
    (retries, chunk_size, retry_delay, sleep) go to ``BlobFetch``; the ranges of a big blob share
    the connection budget with the other blobs. Returns the module's result: ``changed``, ``blobs``
    (in input order), ``total``, ``done`` (verified in place), ``fetched``, ``present``, ``bytes``,
    ``seconds``, ``throughput`` and ``failures`` (a list, empty when everything worked). Raises
    ValidationError, before any request, when a blob has no URL and is not present, or when the
    blobs do not fit in the free space. In check mode nothing is written.
    """
    started = time.monotonic()
    present = check_sources(blobs, layout)
    results = {digest: _present_result(layout, digest) for digest in present}
    missing = [blob for blob in blobs if blob["digest"] not in present]
    if not check_mode:
        check_free_space(missing, layout)
    slots = threading.BoundedSemaphore(concurrency)
    limits = dict(limits or {}, range_workers=concurrency)
    pending = [
        BlobFetch(opener, blob, layout, check_mode=check_mode, slots=slots, limits=limits, **fetch_options)
        for blob in missing
    ]
    if pending:
        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(pending)))) as pool:
            for result in pool.map(lambda fetch: fetch.run(), pending):
                results[result["digest"]] = result
    return summary([results[blob["digest"]] for blob in blobs], round(time.monotonic() - started, 3))


def summary(ordered, seconds):
    """The batch result of the per-blob results, in input order."""
    total_bytes = sum(r["bytes"] for r in ordered)
    fetched = sum(1 for r in ordered if r["status"] == STATUS_FETCHED)
    present = sum(1 for r in ordered if r["status"] == STATUS_PRESENT)
    return dict(
        changed=any(r["status"] in (STATUS_FETCHED, STATUS_WOULD_FETCH) for r in ordered),
        blobs=ordered,
        total=len(ordered),
        done=fetched + present,
        fetched=fetched,
        present=present,
        bytes=total_bytes,
        seconds=seconds,
        throughput=round(total_bytes / seconds, 1) if seconds > 0 else 0.0,
        failures=[dict(digest=r["digest"], error=r["error"]) for r in ordered if r["status"] == STATUS_FAILED],
    )


def failure_message(failures, total):
    """One line naming every failed digest and why."""
    details = "; ".join(f"{f['digest']}: {f['error']}" for f in failures)
    return f"Could not fetch {len(failures)} of {total} blob(s): {details}"
