# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A big blob fetched as several byte ranges at once.

A blob of known size at or above ``range_threshold`` is cut into parts of ``range_size`` bytes.
The parts are fetched at once, each over a connection of the batch's budget (the ``slots``
semaphore that every request of the batch holds), and written in place into the blob's pre-sized
``.partial``. The layout's ``.<hex>.ranges`` file records which parts are complete, so that a part
that fails is retried alone and a later run fetches only the parts still missing. While parts
arrive, the blob is hashed in order from the file, so memory stays bounded whatever the size; it
is renamed into place only once the whole blob has its digest. A server that answers the first
range with the whole object (it ignores ``Range``) is read as one stream instead. Runs on target
hosts: standard library only.
"""

import json
import os
import threading
import urllib.error
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPException

from ansible_collections.airgap.ecr.plugins.module_utils.digests import matches
from ansible_collections.airgap.ecr.plugins.module_utils.digests import new_hasher
from ansible_collections.airgap.ecr.plugins.module_utils.download_http import BlobError
from ansible_collections.airgap.ecr.plugins.module_utils.download_http import RetryableError
from ansible_collections.airgap.ecr.plugins.module_utils.download_http import content_range
from ansible_collections.airgap.ecr.plugins.module_utils.download_http import describe_network_error
from ansible_collections.airgap.ecr.plugins.module_utils.download_http import open_url
from ansible_collections.airgap.ecr.plugins.module_utils.download_http import read_some

# The hashing of the whole blob reads the parts back in pieces of this size (from the page cache, mostly).
HASH_BUFFER_SIZE = 1024 * 1024


class _Stopped(Exception):
    """Another part failed: this one stops at its next chunk."""


def _status(response):
    return getattr(response, "status", None) or response.getcode()


class RangedFetch:
    """One blob of known size as parts fetched at once; ``attempt()`` is one attempt at the whole blob."""

    def __init__(self, fetch):
        self.fetch = fetch
        self.layout = fetch.layout
        self.digest = fetch.digest
        self.size = fetch.expected_size
        self.part_size = fetch.limits["range_size"]
        self.parts = [
            (first, min(first + self.part_size, self.size) - 1) for first in range(0, self.size, self.part_size)
        ]
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.failure = None
        self.done = set()

    # ------------------------------------------------------------------ state

    def load_state(self):
        """The indexes of the parts already complete in the ``.partial`` (a ranged one, or a prefix of the blob)."""
        text = self.layout.read_range_state(self.digest)
        on_disk = self.layout.partial_size(self.digest)
        if text is None:
            if on_disk is None or on_disk > self.size:
                self.fetch.forget_partial()
                return set()
            # The prefix left by a download in one stream: its complete parts are kept.
            return {index for index, (_first, last) in enumerate(self.parts) if last < on_disk}
        try:
            state = json.loads(text)
            done = set(state["done"])
            valid = state["size"] == self.size and state["part_size"] == self.part_size and on_disk == self.size
            valid = valid and all(isinstance(index, int) and 0 <= index < len(self.parts) for index in done)
        except (ValueError, TypeError, KeyError):
            valid = False
        if not valid:  # another part size, another blob size, or damaged: start over
            self.fetch.forget_partial()
            return set()
        return done

    def save_state(self):
        state = dict(size=self.size, part_size=self.part_size, done=sorted(self.done))
        self.layout.write_range_state(self.digest, json.dumps(state))

    def mark_done(self, index):
        with self.lock:
            self.done.add(index)
            self.save_state()

    # ------------------------------------------------------------------ one attempt at the blob

    def attempt(self):
        """Fetch the missing parts, hash the blob in order, and rename it into place; returns its size."""
        self.stop.clear()
        self.failure = None
        self.done = self.load_state()
        self.save_state()  # before the .partial grows: a pre-sized .partial always has its state
        with self.layout.open_partial_rw(self.digest) as handle:
            handle.truncate(self.size)
        self.fetch.resumed_from = sum(self.parts[index][1] + 1 - self.parts[index][0] for index in self.done)
        todo = [index for index in range(len(self.parts)) if index not in self.done]
        if not todo:
            return self.verify(self.hash_parts({}))
        self.acquire()
        try:
            response = self.open_part(*self.parts[todo[0]])
        except BaseException:
            self.fetch.slots.release()
            raise
        if _status(response) == 200:
            return self.whole(response)
        return self.verify(self.run_parts(todo, response))

    def whole(self, response):
        """The server ignores ``Range``: its answer is the whole blob, received as one stream."""
        try:
            self.fetch.forget_partial()
            return self.fetch.receive(response, 0, new_hasher(self.digest))
        finally:
            response.close()
            self.fetch.slots.release()

    def run_parts(self, todo, first_response):
        """Fetch the parts of ``todo`` at once (the first over ``first_response``) while hashing the blob in order."""
        # Twice as many threads as connections: a part's thread flushes and fsyncs its part after it
        # has given its connection back, and meanwhile another thread uses that connection (the
        # ``slots`` of the batch bound the connections, whatever the number of threads).
        workers = max(1, min(2 * self.fetch.limits["range_workers"], len(todo)))
        pool = ThreadPoolExecutor(max_workers=workers)
        try:
            futures = {todo[0]: pool.submit(self.part, todo[0], first_response)}
            for index in todo[1:]:
                futures[index] = pool.submit(self.part, index, None)
            return self.hash_parts(futures)
        except BaseException:
            self.stop.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def hash_parts(self, futures):
        """The hasher of the whole blob, read part by part from the ``.partial`` as each part completes."""
        hasher = new_hasher(self.digest)
        view = memoryview(bytearray(HASH_BUFFER_SIZE))  # one buffer, read into again and again
        with self.layout.open_partial_rw(self.digest) as handle:
            for index, (first, last) in enumerate(self.parts):
                if index in futures:
                    try:
                        futures[index].result()
                    except _Stopped:
                        raise self.failure from None
                self.hash_part(hasher, handle.fileno(), view, first, last)
        return hasher

    def hash_part(self, hasher, fd, view, first, last):
        """Hash bytes ``first`` to ``last`` of the file ``fd``, read into ``view`` (no copy, no new buffer)."""
        position = first
        while position <= last:
            count = os.preadv(fd, [view[: min(len(view), last + 1 - position)]], position)
            if not count:
                raise BlobError(f"the download file ended at byte {position}, before the blob's {self.size} bytes")
            hasher.update(view[:count])  # hashlib lets go of the GIL for a buffer this size
            position += count

    def verify(self, hasher):
        if matches(hasher, self.digest):
            return self.fetch.finish(self.size)
        return self.fetch.mismatch(hasher, self.size, self.fetch.resumed_from)

    # ------------------------------------------------------------------ one part

    def acquire(self):
        """Take a connection slot of the batch, unless another part failed meanwhile."""
        self.fetch.slots.acquire()
        if self.stop.is_set():
            self.fetch.slots.release()
            raise _Stopped()

    def open_part(self, first, last):
        """The answer to ``Range: bytes=first-last``: a 206 of exactly that range, or a 200 (the whole object)."""
        url = self.fetch.url
        try:
            response = open_url(self.fetch.opener, url, {"Range": f"bytes={first}-{last}"})
        except urllib.error.HTTPError as e:
            return self.fetch.http_error(e, 0, None)
        status = _status(response)
        span = content_range(response) if status == 206 else None
        if status == 200 or (span is not None and span == (first, last, self.size)):
            return response
        response.close()
        if span is not None and span[2] is not None and span[2] != self.size:
            raise BlobError(f"the server has {span[2]} bytes for this blob, but its size should be {self.size}")
        raise RetryableError(
            f"the server answered a request for bytes {first}-{last} with another range or status {status}"
        )

    def part(self, index, response):
        """Fetch part ``index`` (retried and resumed alone), write it in place and record it as complete."""
        first, last = self.parts[index]
        position = first
        attempt = 0
        try:
            with self.layout.open_partial_rw(self.digest) as handle:
                handle.seek(first)
                while True:
                    try:
                        position = self.receive_part(handle, position, last, response)
                        break
                    except RetryableError as e:
                        response = None
                        position = handle.tell()  # what arrived is kept: the next attempt asks for the rest
                        if attempt >= self.fetch.retries:
                            suffix = f" (after {attempt + 1} attempts)" if attempt else ""
                            raise BlobError(f"bytes {first}-{last}: {e}{suffix}") from None
                        attempt += 1
                        self.fetch.backoff(attempt)
                handle.flush()
                os.fsync(handle.fileno())
        except (BlobError, OSError) as e:
            with self.lock:
                if self.failure is None:
                    self.failure = e
            self.stop.set()
            raise
        self.mark_done(index)

    def receive_part(self, handle, position, last, response):
        """Write the body of a 206 answer from ``position`` to ``last``; returns the end position."""
        if response is None:
            self.acquire()
            try:
                response = self.open_part(position, last)
            except BaseException:
                self.fetch.slots.release()
                raise
        try:
            if _status(response) != 206:
                raise RetryableError(f"the server answered a request for bytes {position}-{last} with the whole blob")
            return self.copy_part(response, handle, position, last)
        finally:
            response.close()
            self.fetch.slots.release()

    def copy_part(self, response, handle, position, last):
        handle.seek(position)
        while position <= last:
            if self.stop.is_set():
                raise _Stopped()
            try:
                chunk = read_some(response, min(self.fetch.chunk_size, last + 1 - position))
            except (HTTPException, OSError) as e:
                error = describe_network_error(e, self.fetch.url)
                raise RetryableError(f"the transfer was cut at byte {position} ({error})") from None
            self.fetch.deadline.check()
            if not chunk:
                raise RetryableError(f"the transfer was cut at byte {position}")
            handle.write(chunk)  # a local error (no space) is not caught: no retry would cure it
            position += len(chunk)
            self.fetch.count(len(chunk))
        return position
