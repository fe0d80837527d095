# -*- coding: utf-8 -*-

# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The downloader: one blob, many blobs; verified, resumable, retried, concurrent.

A blob is written to its ``.partial`` in the layout (``layout.py`` owns every path) while it is
hashed, and moved to its final path only once its digest (and its size, when known) match:
nothing unverified is ever at the final path. A download that is cut keeps its ``.partial``, and
the next attempt (in this run or the next) resumes it with a ``Range`` request. The HTTP side is
an injected opener (``download_http.py``). Runs on target hosts: standard library only.
"""

import os
import time
import urllib.error
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPException

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError

from ansible_collections.airgap.ecr.plugins.module_utils.digests import CHUNK_SIZE
from ansible_collections.airgap.ecr.plugins.module_utils.digests import format_digest
from ansible_collections.airgap.ecr.plugins.module_utils.digests import matches
from ansible_collections.airgap.ecr.plugins.module_utils.digests import new_hasher
from ansible_collections.airgap.ecr.plugins.module_utils.download_http import content_range
from ansible_collections.airgap.ecr.plugins.module_utils.download_http import describe_network_error
from ansible_collections.airgap.ecr.plugins.module_utils.download_http import http_error_detail
from ansible_collections.airgap.ecr.plugins.module_utils.download_http import scrub
from ansible_collections.airgap.ecr.plugins.module_utils.validation import ValidationError

DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 32
DEFAULT_RETRIES = 2
MAX_RETRIES = 10
# Seconds before the first retry of a blob; doubled for every further retry, at most RETRY_MAX_DELAY.
RETRY_DELAY = 1.0
RETRY_MAX_DELAY = 8.0

# HTTP statuses that are worth another attempt; other 4xx are final.
RETRY_STATUSES = frozenset([408, 429])

STATUS_FETCHED = "fetched"
STATUS_PRESENT = "present"
STATUS_WOULD_FETCH = "would_fetch"
STATUS_FAILED = "failed"


class BlobError(Exception):
    """A blob that cannot be fetched; the message is safe to show (it never contains a URL)."""


class _Retryable(BlobError):
    """A failure that another attempt may cure: connection errors, 5xx, a cut transfer, bad content."""


class BlobFetch:
    """Fetch (or verify) one blob; ``run()`` returns its result dict and never raises for the blob's own errors."""

    def __init__(self, opener, blob, layout, retries=DEFAULT_RETRIES, check_mode=False, chunk_size=CHUNK_SIZE,
                 retry_delay=RETRY_DELAY, sleep=time.sleep):
        self.opener = opener
        self.layout = layout
        self.digest = blob["digest"]
        self.url = blob.get("url")
        self.expected_size = blob.get("size")
        self.retries = retries
        self.check_mode = check_mode
        self.chunk_size = chunk_size
        self.retry_delay = retry_delay
        self.sleep = sleep
        self.downloaded = 0
        self.resumed_from = 0
        self.replaced_corrupt = False
        # (offset, hasher) of the .partial as this run left it, to resume without reading it again.
        self._known_partial = None

    def result(self, status, size, started, error=None):
        result = dict(
            digest=self.digest,
            path=self.layout.blob_path(self.digest),
            status=status,
            bytes=self.downloaded,
            size=size,
            seconds=round(time.monotonic() - started, 3),
            resumed_from=self.resumed_from,
            replaced_corrupt=self.replaced_corrupt,
        )
        if error is not None:
            result["error"] = error
        return result

    def run(self):
        started = time.monotonic()
        try:
            # A blob already in place is verified without taking the lock: a run with nothing to
            # fetch does not touch the layout, not even a directory's modification time.
            present_size = self.check_present()
            if present_size is not None:
                return self.result(STATUS_PRESENT, present_size, started)
            if self.check_mode:
                return self.result(STATUS_WOULD_FETCH, self.expected_size, started)
            with self.layout.blob_lock(self.digest):
                present_size = self.check_present()
                if present_size is not None:  # another run fetched it while this one waited
                    return self.result(STATUS_PRESENT, present_size, started)
                if not self.url:
                    raise BlobError("it is not present in dest and no url was given for it")
                size = self.download()
                return self.result(STATUS_FETCHED, size, started)
        except BlobError as e:
            return self.result(STATUS_FAILED, self.expected_size, started, error=scrub(e, [self.url]))
        except OSError as e:
            # Local file system errors (permissions, space): not worth a retry.
            error = scrub(f"{type(e).__name__}: {e}", [self.url])
            return self.result(STATUS_FAILED, self.expected_size, started, error=error)

    def check_present(self):
        """The size of a verified blob at the final path, or None (a wrong one is removed, except in check mode)."""
        kind = self.layout.blob_kind(self.digest)
        if kind == "missing":
            return None
        if kind != "file":
            raise BlobError(f"{self.layout.blob_path(self.digest)} exists and is not a regular file")
        ok, size = self.layout.verify_blob(self.digest, self.expected_size)
        if ok:
            return size
        self.replaced_corrupt = True
        if not self.check_mode:
            # Nothing unverified stays at the final path, even when the download then fails.
            self.layout.remove_blob(self.digest)
        return None

    def download(self):
        attempt = 0
        while True:
            try:
                return self.attempt()
            except _Retryable as e:
                if attempt >= self.retries:
                    raise BlobError(f"{e} (after {attempt + 1} attempts)" if attempt else str(e)) from None
                attempt += 1
                self.sleep(min(self.retry_delay * 2 ** (attempt - 1), RETRY_MAX_DELAY))

    def load_partial(self):
        """``(offset, hasher)`` of the .partial left by an earlier attempt or run (``(0, new)`` if none)."""
        on_disk = self.layout.partial_size(self.digest)
        if on_disk is None or (self.expected_size is not None and on_disk > self.expected_size):
            self.forget_partial()
            return 0, new_hasher(self.digest)
        if self._known_partial is not None and self._known_partial[0] == on_disk:
            offset, hasher = self._known_partial
            return offset, hasher.copy()
        return self.layout.hash_partial(self.digest)

    def forget_partial(self):
        self.layout.remove_partial(self.digest)
        self._known_partial = None

    def finish(self, size):
        """Move the verified .partial to the final path."""
        self.layout.commit_partial(self.digest)
        self._known_partial = None
        return size

    def discard(self, reason):
        """Delete the .partial, whose content is wrong, and fail this attempt (the next one starts over)."""
        self.forget_partial()
        raise _Retryable(reason)

    def mismatch(self, hasher, size, resumed):
        where = f" after resuming at byte {resumed}" if resumed else ""
        self.discard(f"the downloaded content ({size} bytes{where}) has the digest {format_digest(hasher)}, not {self.digest}")

    def complete_partial(self, offset, hasher):
        """Finish a .partial that already holds the whole blob, or discard it."""
        if matches(hasher, self.digest):
            self.resumed_from = offset
            return self.finish(offset)
        return self.mismatch(hasher, offset, offset)

    def attempt(self):
        offset, hasher = self.load_partial()
        if offset and self.expected_size is not None and offset == self.expected_size:
            # A complete download that an earlier run did not get to rename.
            return self.complete_partial(offset, hasher)
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            response = self.opener(self.url, headers)
        except urllib.error.HTTPError as e:
            return self.http_error(e, offset, hasher)
        except UrlsConnectionError as e:
            raise BlobError(describe_network_error(e, self.url)) from None
        except (urllib.error.URLError, HTTPException, OSError) as e:
            raise _Retryable(describe_network_error(e, self.url)) from None
        except ValueError as e:
            raise BlobError(describe_network_error(e, self.url)) from None
        try:
            return self.receive(response, offset, hasher)
        finally:
            response.close()

    def http_error(self, error, offset, hasher):
        status = error.code
        detail = http_error_detail(error)
        if status == 416 and offset:
            # Range not satisfiable: the .partial has the whole object, or is longer than it.
            if self.expected_size is not None and offset < self.expected_size:
                self.forget_partial()
                raise BlobError(f"the server has no more than {offset} bytes for this blob, but its size should be {self.expected_size}")
            return self.complete_partial(offset, hasher)
        if status in (401, 403):
            raise BlobError(
                f"the download URL has expired or is not valid (HTTP {status}{detail}): resolve a new URL on the controller "
                "(for example with airgap.ecr.ecr_image_layers) and run the task again"
            )
        if status >= 500 or status in RETRY_STATUSES:
            raise _Retryable(f"HTTP {status}{detail}")
        raise BlobError(f"HTTP {status}{detail}")

    def answer_start(self, response, offset, hasher):
        """``(offset, hasher, resumed, total)`` to receive ``response`` from: a 206 resumes, a 200 starts over."""
        status = getattr(response, "status", None) or response.getcode()
        if status == 206 and offset:
            span = content_range(response)
            if span is None or span[0] != offset:
                self.discard(f"the server answered a request from byte {offset} with another range")
            total = span[2]
            if self.expected_size is not None and total is not None and total != self.expected_size:
                # Content-Range tells the size of the whole object: it is not this blob.
                self.forget_partial()
                raise BlobError(f"the server has {total} bytes for this blob, but its size should be {self.expected_size}")
            return offset, hasher, offset, total
        if status == 200:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.strip().isdigit() else None
            # A shorter answer is taken as a cut transfer (resumed next time), a longer one as wrong content.
            if self.expected_size is not None and total is not None and total > self.expected_size:
                self.discard(f"the server announced {total} bytes, more than the expected {self.expected_size}")
            return 0, new_hasher(self.digest), 0, total
        raise BlobError(f"unexpected HTTP status {status}")

    def receive(self, response, offset, hasher):
        position, hasher, resumed, total = self.answer_start(response, offset, hasher)
        self.resumed_from = resumed
        with self.layout.open_partial(self.digest, append=bool(resumed)) as f:
            position = self.copy_body(response, f, position, hasher)
        expected_end = self.expected_size if self.expected_size is not None else total
        if expected_end is not None and position < expected_end:
            self.keep_partial(position, hasher)
            raise _Retryable(f"the transfer was cut after {position} of {expected_end} bytes")
        if not matches(hasher, self.digest):
            self.mismatch(hasher, position, resumed)
        return self.finish(position)

    def copy_body(self, response, f, position, hasher):
        """Write the response body to ``f`` from ``position``, hashing it; returns the end position."""
        while True:
            try:
                chunk = response.read(self.chunk_size)
            except (HTTPException, OSError) as e:
                # Keep what arrived, for the next attempt to resume. A local error while
                # writing (below) is not caught: no retry would cure it.
                f.flush()
                os.fsync(f.fileno())
                self.keep_partial(position, hasher)
                error = describe_network_error(e, self.url)
                raise _Retryable(f"the transfer was cut after {position} bytes ({error})") from None
            if not chunk:
                break
            if self.expected_size is not None and position + len(chunk) > self.expected_size:
                f.close()
                self.discard(f"the server sent more than the expected {self.expected_size} bytes")
            hasher.update(chunk)
            f.write(chunk)
            position += len(chunk)
            self.downloaded += len(chunk)
        f.flush()
        os.fsync(f.fileno())
        return position

    def keep_partial(self, position, hasher):
        """Keep the bytes of a cut transfer for the next attempt (or run) to resume from."""
        if position:
            self._known_partial = (position, hasher.copy())
        else:
            self.forget_partial()


def check_sources(blobs, layout):
    """Before any request: every blob without a URL must already be in the layout, verified.

    Returns the set of digests found present (so they are not read again); raises
    ValidationError naming every blob that has neither.
    """
    present = set()
    problems = []
    for blob in blobs:
        if blob["url"]:
            continue
        try:
            ok = layout.has_blob(blob["digest"], blob["size"])
        except OSError as e:
            path = layout.blob_path(blob["digest"])
            problems.append(f"blobs[{blob['index']}] ({blob['digest']}) has no url, and {path} cannot be read: {e}")
            continue
        if ok:
            present.add(blob["digest"])
        else:
            problems.append(f"blobs[{blob['index']}] ({blob['digest']}) has no url, and is not present in dest")
    if problems:
        raise ValidationError("; ".join(problems) + ": give a url (or download_url) for each blob to download")
    return present


def _present_result(layout, digest):
    return dict(digest=digest, path=layout.blob_path(digest), status=STATUS_PRESENT, bytes=0,
                size=layout.blob_size(digest), seconds=0.0, resumed_from=0, replaced_corrupt=False)


def fetch_blobs(opener, blobs, layout, concurrency=DEFAULT_CONCURRENCY, check_mode=False, **fetch_options):
    """Fetch or verify every blob of ``normalize_blobs()`` into ``layout``, ``concurrency`` at a time.

    ``fetch_options`` go to ``BlobFetch`` (retries, chunk_size, retry_delay, sleep). Returns the
    module's result: ``changed``, ``blobs`` (in input order), ``total``, ``done`` (verified in
    place), ``fetched``, ``present``, ``bytes``, ``seconds``, ``throughput`` and ``failures`` (a list,
    empty when everything worked). Raises ValidationError, before any request, when a blob has no
    URL and is not present. In check mode nothing is written.
    """
    started = time.monotonic()
    present = check_sources(blobs, layout)
    results = {digest: _present_result(layout, digest) for digest in present}
    pending = [BlobFetch(opener, blob, layout, check_mode=check_mode, **fetch_options)
               for blob in blobs if blob["digest"] not in present]
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
