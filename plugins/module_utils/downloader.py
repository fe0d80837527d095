# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The downloader, one blob: verified, resumable, retried, bounded (many blobs: ``download_batch.py``).

A blob is written to its ``.partial`` in the layout (``layout.py`` owns every path) while it is
hashed, and moved to its final path only once its digest (and its size, when known) match:
nothing unverified is ever at the final path. A download that is cut keeps its ``.partial``, and
the next attempt (in this run or the next) resumes it with a ``Range`` request; a local write
error (no space) leaves nothing. A blob of unknown size is capped (max_size), every blob has a
deadline, and a big one is fetched as byte ranges at once (``download_ranges.py``) within the
batch's connection budget. The HTTP side is an injected opener (``download_http.py``); the
checks before any request are in ``download_checks.py``. Runs on target hosts: standard library only.
"""

import os
import threading
import time
import urllib.error
from http.client import HTTPException

from ansible_collections.airgap.ecr.plugins.module_utils.digests import CHUNK_SIZE
from ansible_collections.airgap.ecr.plugins.module_utils.digests import format_digest
from ansible_collections.airgap.ecr.plugins.module_utils.digests import matches
from ansible_collections.airgap.ecr.plugins.module_utils.digests import new_hasher
from ansible_collections.airgap.ecr.plugins.module_utils.download_http import BlobError
from ansible_collections.airgap.ecr.plugins.module_utils.download_http import Deadline
from ansible_collections.airgap.ecr.plugins.module_utils.download_http import RetryableError
from ansible_collections.airgap.ecr.plugins.module_utils.download_http import content_range
from ansible_collections.airgap.ecr.plugins.module_utils.download_http import describe_network_error
from ansible_collections.airgap.ecr.plugins.module_utils.download_http import http_error_detail
from ansible_collections.airgap.ecr.plugins.module_utils.download_http import open_url
from ansible_collections.airgap.ecr.plugins.module_utils.download_http import read_some
from ansible_collections.airgap.ecr.plugins.module_utils.download_http import scrub

DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 32
DEFAULT_RETRIES = 2
MAX_RETRIES = 10
# Seconds before the first retry of a blob; doubled for every further retry, at most RETRY_MAX_DELAY.
RETRY_DELAY = 1.0
RETRY_MAX_DELAY = 8.0

# A blob of unknown size may have at most this many bytes (the max_size option).
DEFAULT_MAX_SIZE = 16 * 1024**3
# Seconds one blob may take from its first request to its verification, retries included (the deadline option).
DEFAULT_DEADLINE = 3600
# Blobs of at least this many bytes (and more than one part) are fetched as parts of RANGE_SIZE bytes at once.
DEFAULT_RANGE_THRESHOLD = 64 * 1024**2
DEFAULT_RANGE_SIZE = 16 * 1024**2

# HTTP statuses that are worth another attempt; other 4xx are final.
RETRY_STATUSES = frozenset([408, 429])

DEFAULT_LIMITS = dict(
    max_size=DEFAULT_MAX_SIZE,
    deadline=DEFAULT_DEADLINE,
    range_threshold=DEFAULT_RANGE_THRESHOLD,
    range_size=DEFAULT_RANGE_SIZE,
    range_workers=DEFAULT_CONCURRENCY,
)

STATUS_FETCHED = "fetched"
STATUS_PRESENT = "present"
STATUS_WOULD_FETCH = "would_fetch"
STATUS_FAILED = "failed"


class BlobFetch:
    """Fetch (or verify) one blob; ``run()`` returns its result dict and never raises for the blob's own errors."""

    def __init__(
        self,
        opener,
        blob,
        layout,
        retries=DEFAULT_RETRIES,
        check_mode=False,
        chunk_size=CHUNK_SIZE,
        retry_delay=RETRY_DELAY,
        sleep=time.sleep,
        slots=None,
        limits=None,
    ):
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
        # One slot of the batch's connection budget is held for every request and its body.
        self.slots = slots or threading.BoundedSemaphore(1)
        self.limits = dict(DEFAULT_LIMITS, **(limits or {}))
        self.deadline = None
        self._count_lock = threading.Lock()
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
                size = self.download_or_clean_up()
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

    def download_or_clean_up(self):
        """download(); after a local error (no space, no permission) no .partial is left behind."""
        try:
            return self.download()
        except OSError:
            self.forget_partial()
            raise

    def download(self):
        self.deadline = Deadline(self.limits["deadline"])
        ranged = ranged_fetch(self)
        attempt = 0
        while True:
            try:
                return ranged.attempt() if ranged else self.attempt()
            except RetryableError as e:
                if attempt >= self.retries:
                    raise BlobError(f"{e} (after {attempt + 1} attempts)" if attempt else str(e)) from None
                attempt += 1
                self.backoff(attempt)

    def backoff(self, attempt):
        """Wait before retry number ``attempt`` (1, 2, ...), within the deadline."""
        delay = min(self.retry_delay * 2 ** (attempt - 1), RETRY_MAX_DELAY)
        if delay > self.deadline.remaining():
            self.deadline.check()
            raise BlobError(
                f"no time is left for another attempt before the deadline of {self.deadline.seconds} seconds"
            )
        self.sleep(delay)

    def count(self, size):
        with self._count_lock:
            self.downloaded += size

    def load_partial(self):
        """``(offset, hasher)`` of the .partial left by an earlier attempt or run (``(0, new)`` if none)."""
        if self.layout.read_range_state(self.digest) is not None:
            self.forget_partial()  # a ranged download's .partial is not a prefix of the blob
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
        self.layout.remove_range_state(self.digest)
        self._known_partial = None

    def finish(self, size):
        """Move the verified .partial to the final path."""
        self.layout.commit_partial(self.digest)
        self.layout.remove_range_state(self.digest)
        self._known_partial = None
        return size

    def discard(self, reason):
        """Delete the .partial, whose content is wrong, and fail this attempt (the next one starts over)."""
        self.forget_partial()
        raise RetryableError(reason)

    def mismatch(self, hasher, size, resumed):
        where = f" after resuming at byte {resumed}" if resumed else ""
        self.discard(
            f"the downloaded content ({size} bytes{where}) has the digest {format_digest(hasher)}, not {self.digest}"
        )

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
        with self.slots:
            try:
                response = open_url(self.opener, self.url, headers)
            except urllib.error.HTTPError as e:
                return self.http_error(e, offset, hasher)
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
                raise BlobError(
                    f"the server has no more than {offset} bytes for this blob, "
                    f"but its size should be {self.expected_size}"
                )
            return self.complete_partial(offset, hasher)
        if status in (401, 403):
            raise BlobError(
                f"the download URL has expired or is not valid (HTTP {status}{detail}): "
                "resolve a new URL on the controller "
                "(for example with airgap.ecr.ecr_image_layers) and run the task again"
            )
        if status >= 500 or status in RETRY_STATUSES:
            raise RetryableError(f"HTTP {status}{detail}")
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
                raise BlobError(
                    f"the server has {total} bytes for this blob, but its size should be {self.expected_size}"
                )
            self.check_cap(total)
            return offset, hasher, offset, total
        if status == 200:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.strip().isdigit() else None
            # A shorter answer is taken as a cut transfer (resumed next time), a longer one as wrong content.
            if self.expected_size is not None and total is not None and total > self.expected_size:
                self.discard(f"the server announced {total} bytes, more than the expected {self.expected_size}")
            self.check_cap(total)
            return 0, new_hasher(self.digest), 0, total
        raise BlobError(f"unexpected HTTP status {status}")

    def check_cap(self, size):
        """Refuse a blob of unknown size that is (or is announced to be) larger than max_size."""
        if self.expected_size is None and size is not None and size > self.limits["max_size"]:
            self.forget_partial()
            raise BlobError(
                f"the server has more than max_size ({self.limits['max_size']} bytes) for this blob, whose size was "
                "not given: give its size in blobs, or raise max_size"
            )

    def receive(self, response, offset, hasher):
        position, hasher, resumed, total = self.answer_start(response, offset, hasher)
        self.resumed_from = resumed
        with self.layout.open_partial(self.digest, append=bool(resumed)) as f:
            position = self.copy_body(response, f, position, hasher)
        expected_end = self.expected_size if self.expected_size is not None else total
        if expected_end is not None and position < expected_end:
            self.keep_partial(position, hasher)
            raise RetryableError(f"the transfer was cut after {position} of {expected_end} bytes")
        if not matches(hasher, self.digest):
            self.mismatch(hasher, position, resumed)
        return self.finish(position)

    def copy_body(self, response, f, position, hasher):
        """Write the response body to ``f`` from ``position``, hashing it; returns the end position.

        A local error while writing is not caught here: no retry would cure it.
        """
        while True:
            chunk = self.read_chunk(response, f, position, hasher)
            if not chunk:
                break
            if self.expected_size is not None and position + len(chunk) > self.expected_size:
                f.close()
                self.discard(f"the server sent more than the expected {self.expected_size} bytes")
            self.check_cap(position + len(chunk))
            hasher.update(chunk)
            f.write(chunk)
            position += len(chunk)
            self.count(len(chunk))
        f.flush()
        os.fsync(f.fileno())
        return position

    def read_chunk(self, response, f, position, hasher):
        """The next chunk of the body; a cut transfer or the deadline keeps what arrived, for a later attempt or run."""
        try:
            chunk = read_some(response, self.chunk_size)
            self.deadline.check()
            return chunk
        except (HTTPException, OSError, BlobError) as e:
            f.flush()
            os.fsync(f.fileno())
            self.keep_partial(position, hasher)
            if isinstance(e, BlobError):
                raise
            error = describe_network_error(e, self.url)
            raise RetryableError(f"the transfer was cut after {position} bytes ({error})") from None

    def keep_partial(self, position, hasher):
        """Keep the bytes of a cut transfer for the next attempt (or run) to resume from."""
        if position:
            self._known_partial = (position, hasher.copy())
        else:
            self.forget_partial()


def ranged_fetch(fetch):
    """download_ranges' RangedFetch for ``fetch`` when its blob is big enough for ranges, else None.

    download_ranges is imported only then: a module run compiles every file it imports from the AnsiballZ zip.
    """
    limits = fetch.limits
    size = fetch.expected_size
    if not limits["range_threshold"] or size is None or size < limits["range_threshold"]:
        return None
    if size <= limits["range_size"]:
        return None
    # pylint: disable-next=import-outside-toplevel
    from ansible_collections.airgap.ecr.plugins.module_utils import download_ranges

    return download_ranges.RangedFetch(fetch)
