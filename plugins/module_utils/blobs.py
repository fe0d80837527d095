# -*- coding: utf-8 -*-

# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Download content-addressed blobs into an OCI image layout, verified, resumable, concurrently.

This runs on the target host: only the Python standard library and
``ansible.module_utils.urls`` are used. The HTTP side is an injected *opener*, a callable
``opener(url, headers) -> response`` that raises ``urllib.error.HTTPError`` for HTTP error
statuses (``url_opener()`` builds one on ``ansible.module_utils.urls.Request``), so that
everything here can be tested without Ansible.

A blob is written to ``<dest>/blobs/<algorithm>/.<hex>.partial`` while it is hashed, and
renamed to ``<dest>/blobs/<algorithm>/<hex>`` only once its digest (and its size, when
known) match: nothing unverified is ever at the final path. A download that is cut keeps
its ``.partial``, and the next attempt (in this run or the next) resumes it with a
``Range`` request.

A download URL is a bearer credential: no message produced here contains one.
"""

import fcntl
import hashlib
import os
import re
import threading
import time
import urllib.error
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.client import HTTPException
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import Request

from ansible_collections.airgap.ecr.plugins.module_utils.common import AIRGAP_ECR_COLLECTION_VERSION
from ansible_collections.airgap.ecr.plugins.module_utils.validation import ValidationError
from ansible_collections.airgap.ecr.plugins.module_utils.validation import validate_concurrency
from ansible_collections.airgap.ecr.plugins.module_utils.validation import validate_digest

DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 32
DEFAULT_RETRIES = 2
MAX_RETRIES = 10
DEFAULT_TIMEOUT = 30
CHUNK_SIZE = 256 * 1024
# Seconds before the first retry of a blob; doubled for every further retry, at most RETRY_MAX_DELAY.
RETRY_DELAY = 1.0
RETRY_MAX_DELAY = 8.0
FILE_MODE = 0o644
DIR_MODE = 0o755
USER_AGENT = "airgap.ecr/%s blob_fetch" % AIRGAP_ECR_COLLECTION_VERSION

# HTTP statuses that are worth another attempt; other 4xx are final.
RETRY_STATUSES = frozenset([408, 429])

STATUS_FETCHED = "fetched"
STATUS_PRESENT = "present"
STATUS_WOULD_FETCH = "would_fetch"
STATUS_FAILED = "failed"

_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]*")
_SIGNATURE_RE = re.compile(r"(X-Amz-[A-Za-z-]+|Signature|AWSAccessKeyId)=[^\s&'\"<>]*", re.IGNORECASE)
_XML_CODE_RE = re.compile(r"<Code>([A-Za-z0-9.]{1,64})</Code>")
_XML_MESSAGE_RE = re.compile(r"<Message>([^<]{1,200})</Message>")
_CONTENT_RANGE_RE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)

_DIR_LOCK = threading.Lock()


class BlobError(Exception):
    """A blob that cannot be fetched; the message is safe to show (it never contains a URL)."""


class _Retryable(BlobError):
    """A failure that another attempt may cure: connection errors, 5xx, a cut transfer, bad content."""


def scrub(text, urls=()):
    """``text`` without the given URLs, nor anything that looks like a URL or a signature."""
    text = str(text)
    for url in urls:
        if url:
            text = text.replace(url, "<url>")
    text = _URL_RE.sub("<url>", text)
    return _SIGNATURE_RE.sub(r"\1=<hidden>", text)


# --------------------------------------------------------------------------- input


def _size_value(value, where):
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(f"{where}.size {value!r} is not a size: give the blob's size in bytes, an integer of 0 or more")
    return value


def _one_of(entry, names, where):
    """The value under the first of ``names`` that is set; two different values are an error."""
    found = [(name, entry.get(name)) for name in names if entry.get(name) not in (None, "")]
    if len(found) > 1 and found[0][1] != found[1][1]:
        raise ValidationError(f"{where} has both {found[0][0]} and {found[1][0]}, with different values: give one of them")
    return found[0][1] if found else None


def _url_value(value, where, digest):
    if value is None:
        return None
    # The URL is a credential: the messages name the entry and its digest, never the URL.
    if not isinstance(value, str):
        raise ValidationError(f"{where}.url (for {digest}) must be a string, got a {type(value).__name__}")
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValidationError(f"{where}.url (for {digest}) is not an http:// or https:// URL")
    return value


def normalize_blobs(entries):
    """Validate ``blobs`` and return ``[{"index", "digest", "url", "size"}]`` without duplicate digests.

    Each entry is a dict with ``digest`` (or ``layer_digest``), ``url`` (or ``download_url``) and
    an optional ``size``; other keys (``media_type``, ``expires_at``, ...) are ignored. Entries
    with the same digest are merged: the first URL given is used, and their sizes must agree.
    Every problem is reported, with the entry's position; raises ValidationError.
    """
    if not isinstance(entries, (list, tuple)) or not entries:
        raise ValidationError("blobs is empty: give at least one blob, a dict with a digest and a url")
    problems = []
    merged = {}
    for index, entry in enumerate(entries):
        where = f"blobs[{index}]"
        if not isinstance(entry, dict):
            problems.append(f"{where} must be a dict with a digest and a url, got a {type(entry).__name__}")
            continue
        try:
            digest = _one_of(entry, ("digest", "layer_digest"), where)
            if digest is None:
                raise ValidationError(f"{where} has no digest: give digest, for example 'sha256:' followed by 64 hexadecimal characters")
            validate_digest(digest, option=f"{where}.digest")
            url = _url_value(_one_of(entry, ("url", "download_url"), where), where, digest)
            size = _size_value(entry.get("size"), where)
        except ValidationError as e:
            problems.append(str(e))
            continue
        blob = merged.get(digest)
        if blob is None:
            merged[digest] = dict(index=index, digest=digest, url=url, size=size)
            continue
        if size is not None and blob["size"] is not None and size != blob["size"]:
            problems.append(
                f"{where}.size {size} differs from the size {blob['size']} of the same digest {digest} in blobs[{blob['index']}]"
            )
            continue
        if blob["url"] is None:
            blob["url"] = url
        if blob["size"] is None:
            blob["size"] = size
    if problems:
        raise ValidationError("; ".join(problems))
    return list(merged.values())


def blob_urls(entries):
    """Every URL string found in the ``blobs`` option as given, to keep them out of logs and output."""
    urls = set()
    for entry in entries if isinstance(entries, (list, tuple)) else []:
        if isinstance(entry, dict):
            for key in ("url", "download_url"):
                if isinstance(entry.get(key), str) and entry[key]:
                    urls.add(entry[key])
    return urls


# --------------------------------------------------------------------------- paths and files


def blob_path(dest, digest):
    """``<dest>/blobs/<algorithm>/<hex>``."""
    algorithm, encoded = digest.split(":", 1)
    return os.path.join(dest, "blobs", algorithm, encoded)


def partial_path(dest, digest):
    """The temporary file of a download in progress, next to the final path: ``.<hex>.partial``."""
    algorithm, encoded = digest.split(":", 1)
    return os.path.join(dest, "blobs", algorithm, f".{encoded}.partial")


def _new_hash(digest):
    return hashlib.new(digest.split(":", 1)[0])


def _hash_file(path, digest, chunk_size=CHUNK_SIZE):
    """``(size, hasher)`` of the file's content."""
    hasher = _new_hash(digest)
    size = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(chunk_size)
            if not chunk:
                return size, hasher
            hasher.update(chunk)
            size += len(chunk)


def verify_file(path, digest, size=None):
    """``(ok, actual_size)``: whether the regular file at ``path`` has ``digest`` (and ``size``)."""
    actual_size = os.path.getsize(path)
    if size is not None and actual_size != size:
        return False, actual_size
    actual_size, hasher = _hash_file(path, digest)
    return hasher.hexdigest() == digest.split(":", 1)[1], actual_size


def ensure_dir(path):
    """Create ``path`` and its missing parents, each with mode 0755 whatever the umask."""
    with _DIR_LOCK:
        missing = []
        current = os.path.abspath(path)
        while not os.path.isdir(current):
            missing.append(current)
            parent = os.path.dirname(current)
            if parent == current:
                break
            current = parent
        for directory in reversed(missing):
            try:
                os.mkdir(directory, DIR_MODE)
            except FileExistsError:
                if not os.path.isdir(directory):
                    raise
                continue
            os.chmod(directory, DIR_MODE)


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- HTTP


def url_opener(timeout=DEFAULT_TIMEOUT, validate_certs=True, use_proxy=True, headers=None, client_cert=None, client_key=None, ca_path=None):
    """An opener on ``ansible.module_utils.urls.Request``, with the options' meaning of get_url.

    Proxies come from the usual environment variables (unless ``use_proxy`` is false), and
    redirects are followed for GET only (get_url's ``safe``). Content is never decompressed (a
    digest is of the bytes as stored) and ``~/.netrc`` is not used (a pre-signed URL carries its
    own authorization; another would be refused).
    """
    request = Request(
        headers=dict(headers or {}),
        use_proxy=use_proxy,
        timeout=timeout,
        validate_certs=validate_certs,
        client_cert=client_cert,
        client_key=client_key,
        ca_path=ca_path,
        http_agent=USER_AGENT,
        follow_redirects="safe",
        decompress=False,
        use_netrc=False,
    )

    def open_blob(url, request_headers):
        return request.open("GET", url, headers=dict(request_headers))

    return open_blob


def _http_error_detail(error):
    """``", AccessDenied: Request has expired"`` from an S3-style XML error body, or ``""``."""
    try:
        body = error.read(4096)
    except Exception:  # pylint: disable=broad-except  # the body is a nicety; the status says enough
        return ""
    finally:
        error.close()
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else ""
    code = _XML_CODE_RE.search(text)
    message = _XML_MESSAGE_RE.search(text)
    parts = [m.group(1).strip() for m in (code, message) if m]
    return scrub(", " + ": ".join(parts)) if parts else ""


def _describe_network_error(error, url):
    """``"ConnectionRefusedError: [Errno 111] Connection refused"``, without any URL."""
    if isinstance(error, urllib.error.URLError) and not isinstance(error.reason, str):
        error = error.reason
    text = str(error)
    return scrub(f"{type(error).__name__}: {text}" if text else type(error).__name__, [url])


# --------------------------------------------------------------------------- one blob


class BlobFetch:
    """Fetch (or verify) one blob; ``run()`` returns its result dict and never raises for the blob's own errors."""

    def __init__(self, opener, blob, dest, retries=DEFAULT_RETRIES, check_mode=False, chunk_size=CHUNK_SIZE,
                 retry_delay=RETRY_DELAY, sleep=time.sleep):
        self.opener = opener
        self.digest = blob["digest"]
        self.url = blob.get("url")
        self.expected_size = blob.get("size")
        self.path = blob_path(dest, self.digest)
        self.partial = partial_path(dest, self.digest)
        self.retries = retries
        self.check_mode = check_mode
        self.chunk_size = chunk_size
        self.retry_delay = retry_delay
        self.sleep = sleep
        self.encoded = self.digest.split(":", 1)[1]
        self.downloaded = 0
        self.resumed_from = 0
        self.replaced_corrupt = False
        # (offset, hasher) of the .partial as this run left it, to resume without reading it again.
        self._known_partial = None

    def result(self, status, size, started, error=None):
        result = dict(
            digest=self.digest,
            path=self.path,
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
            with self.locked():
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
            return self.result(STATUS_FAILED, self.expected_size, started, error=scrub(f"{type(e).__name__}: {e}", [self.url]))

    @contextmanager
    def locked(self):
        """Hold an exclusive lock on this blob in ``dest`` (``.<hex>.lock``) for the whole fetch.

        Another run fetching the same blob into the same layout at the same time (a second
        play, or a module left running by an interrupted one) waits here instead of sharing
        the ``.partial``; once it gets the lock it finds the blob present. The lock file is
        removed by its holder; a waiter that locked a file already removed tries again.
        """
        directory = os.path.dirname(self.path)
        ensure_dir(directory)
        lock_path = os.path.join(directory, f".{self.encoded}.lock")
        while True:
            handle = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    current = os.stat(lock_path).st_ino == os.fstat(handle).st_ino
                except FileNotFoundError:
                    current = False
            except BaseException:
                os.close(handle)
                raise
            if current:
                break
            os.close(handle)
        try:
            yield
        finally:
            _remove(lock_path)
            os.close(handle)

    def check_present(self):
        """The size of a verified blob at the final path, or None (a wrong one is removed, except in check mode)."""
        if not os.path.lexists(self.path):
            return None
        if not os.path.isfile(self.path):
            raise BlobError(f"{self.path} exists and is not a regular file")
        ok, size = verify_file(self.path, self.digest, self.expected_size)
        if ok:
            return size
        self.replaced_corrupt = True
        if not self.check_mode:
            # Nothing unverified stays at the final path, even when the download then fails.
            _remove(self.path)
        return None

    def download(self):
        ensure_dir(os.path.dirname(self.path))
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
        if not os.path.isfile(self.partial):
            self._known_partial = None
            return 0, _new_hash(self.digest)
        on_disk = os.path.getsize(self.partial)
        if self.expected_size is not None and on_disk > self.expected_size:
            _remove(self.partial)
            self._known_partial = None
            return 0, _new_hash(self.digest)
        if self._known_partial is not None and self._known_partial[0] == on_disk:
            offset, hasher = self._known_partial
            return offset, hasher.copy()
        return _hash_file(self.partial, self.digest, self.chunk_size)

    def finish(self, size):
        """Move the verified .partial to the final path."""
        os.chmod(self.partial, FILE_MODE)
        os.replace(self.partial, self.path)
        _fsync_dir(os.path.dirname(self.path))
        self._known_partial = None
        return size

    def discard(self, reason):
        """Delete the .partial, whose content is wrong, and fail this attempt (the next one starts over)."""
        _remove(self.partial)
        self._known_partial = None
        raise _Retryable(reason)

    def mismatch(self, hasher, size, resumed):
        where = f" after resuming at byte {resumed}" if resumed else ""
        self.discard(f"the downloaded content ({size} bytes{where}) has the digest {hasher.name}:{hasher.hexdigest()}, not {self.digest}")

    def attempt(self):
        offset, hasher = self.load_partial()
        if offset and self.expected_size is not None and offset == self.expected_size:
            # A complete download that an earlier run did not get to rename.
            if hasher.hexdigest() == self.encoded:
                self.resumed_from = offset
                return self.finish(offset)
            self.mismatch(hasher, offset, offset)
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            response = self.opener(self.url, headers)
        except urllib.error.HTTPError as e:
            return self.http_error(e, offset, hasher)
        except UrlsConnectionError as e:
            raise BlobError(_describe_network_error(e, self.url)) from None
        except (urllib.error.URLError, HTTPException, OSError) as e:
            raise _Retryable(_describe_network_error(e, self.url)) from None
        except ValueError as e:
            raise BlobError(_describe_network_error(e, self.url)) from None
        try:
            return self.receive(response, offset, hasher)
        finally:
            response.close()

    def http_error(self, error, offset, hasher):
        status = error.code
        detail = _http_error_detail(error)
        if status == 416 and offset:
            # Range not satisfiable: the .partial has the whole object, or is longer than it.
            if self.expected_size is not None and offset < self.expected_size:
                _remove(self.partial)
                self._known_partial = None
                raise BlobError(f"the server has no more than {offset} bytes for this blob, but its size should be {self.expected_size}")
            if hasher.hexdigest() == self.encoded:
                self.resumed_from = offset
                return self.finish(offset)
            self.mismatch(hasher, offset, offset)
        if status in (401, 403):
            raise BlobError(
                f"the download URL has expired or is not valid (HTTP {status}{detail}): resolve a new URL on the controller "
                "(for example with airgap.ecr.ecr_image_layers) and run the task again"
            )
        if status >= 500 or status in RETRY_STATUSES:
            raise _Retryable(f"HTTP {status}{detail}")
        raise BlobError(f"HTTP {status}{detail}")

    def receive(self, response, offset, hasher):
        status = getattr(response, "status", None) or response.getcode()
        resumed = 0
        total = None
        if status == 206 and offset:
            match = _CONTENT_RANGE_RE.match(response.headers.get("Content-Range") or "")
            if not match or int(match.group(1)) != offset:
                self.discard(f"the server answered a request from byte {offset} with another range")
            resumed = offset
            if match.group(3) != "*":
                total = int(match.group(3))
            if self.expected_size is not None and total is not None and total != self.expected_size:
                # Content-Range tells the size of the whole object: it is not this blob.
                _remove(self.partial)
                self._known_partial = None
                raise BlobError(f"the server has {total} bytes for this blob, but its size should be {self.expected_size}")
        elif status == 200:
            offset, hasher = 0, _new_hash(self.digest)
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.strip().isdigit() else None
            # A shorter answer is taken as a cut transfer (resumed next time), a longer one as wrong content.
            if self.expected_size is not None and total is not None and total > self.expected_size:
                self.discard(f"the server announced {total} bytes, more than the expected {self.expected_size}")
        else:
            raise BlobError(f"unexpected HTTP status {status}")

        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if resumed else os.O_TRUNC)
        position = offset
        self.resumed_from = resumed
        with os.fdopen(os.open(self.partial, flags, FILE_MODE), "wb") as f:
            while True:
                try:
                    chunk = response.read(self.chunk_size)
                except (HTTPException, OSError) as e:
                    # Keep what arrived, for the next attempt to resume. A local error while
                    # writing (below) is not caught: no retry would cure it.
                    self.keep_partial(f, position, hasher)
                    raise _Retryable(f"the transfer was cut after {position} bytes ({_describe_network_error(e, self.url)})") from None
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

        expected_end = self.expected_size if self.expected_size is not None else total
        if expected_end is not None and position < expected_end:
            self.keep_partial(None, position, hasher)
            raise _Retryable(f"the transfer was cut after {position} of {expected_end} bytes")
        if hasher.hexdigest() != self.encoded:
            self.mismatch(hasher, position, resumed)
        return self.finish(position)

    def keep_partial(self, f, position, hasher):
        """Keep the bytes of a cut transfer for the next attempt (or run) to resume from."""
        if f is not None:
            f.flush()
            os.fsync(f.fileno())
        if position:
            self._known_partial = (position, hasher.copy())
        else:
            _remove(self.partial)
            self._known_partial = None


# --------------------------------------------------------------------------- many blobs


def check_sources(blobs, dest):
    """Before any request: every blob without a URL must already be in ``dest``, verified.

    Returns the set of digests found present (so they are not read again); raises
    ValidationError naming every blob that has neither.
    """
    present = set()
    problems = []
    for blob in blobs:
        if blob["url"]:
            continue
        path = blob_path(dest, blob["digest"])
        try:
            ok = os.path.isfile(path) and verify_file(path, blob["digest"], blob["size"])[0]
        except OSError as e:
            problems.append(f"blobs[{blob['index']}] ({blob['digest']}) has no url, and {path} cannot be read: {e}")
            continue
        if ok:
            present.add(blob["digest"])
        else:
            problems.append(f"blobs[{blob['index']}] ({blob['digest']}) has no url, and is not present in dest")
    if problems:
        raise ValidationError("; ".join(problems) + ": give a url (or download_url) for each blob to download")
    return present


def fetch_blobs(opener, blobs, dest, concurrency=DEFAULT_CONCURRENCY, retries=DEFAULT_RETRIES, check_mode=False,
                chunk_size=CHUNK_SIZE, retry_delay=RETRY_DELAY, sleep=time.sleep):
    """Fetch or verify every blob of ``normalize_blobs()``, ``concurrency`` at a time.

    Returns the module's result: ``changed``, ``blobs`` (in input order), ``total``, ``done``
    (verified in place), ``fetched``, ``present``, ``bytes``, ``seconds``, ``throughput`` and ``failures`` (a list, empty when
    everything worked). Raises ValidationError, before any request, when a blob has no URL
    and is not present. In check mode nothing is written.
    """
    started = time.monotonic()
    present = check_sources(blobs, dest)
    results = {}
    pending = []
    for blob in blobs:
        if blob["digest"] in present:
            path = blob_path(dest, blob["digest"])
            results[blob["digest"]] = dict(digest=blob["digest"], path=path, status=STATUS_PRESENT, bytes=0, size=os.path.getsize(path),
                                           seconds=0.0, resumed_from=0, replaced_corrupt=False)
        else:
            pending.append(BlobFetch(opener, blob, dest, retries=retries, check_mode=check_mode, chunk_size=chunk_size,
                                     retry_delay=retry_delay, sleep=sleep))
    if pending:
        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(pending)))) as pool:
            for result in pool.map(lambda fetch: fetch.run(), pending):
                results[result["digest"]] = result

    ordered = [results[blob["digest"]] for blob in blobs]
    seconds = round(time.monotonic() - started, 3)
    total_bytes = sum(r["bytes"] for r in ordered)
    failures = [dict(digest=r["digest"], error=r["error"]) for r in ordered if r["status"] == STATUS_FAILED]
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
        failures=failures,
    )


def failure_message(failures, total):
    """One line naming every failed digest and why."""
    details = "; ".join(f"{f['digest']}: {f['error']}" for f in failures)
    return f"Could not fetch {len(failures)} of {total} blob(s): {details}"


# --------------------------------------------------------------------------- modules

# The download options of blob_fetch and oci_layout (documented in the airgap.ecr.blob_download fragment).
DOWNLOAD_ARGUMENT_SPEC = dict(
    concurrency=dict(type="int", default=DEFAULT_CONCURRENCY),
    retries=dict(type="int", default=DEFAULT_RETRIES),
    timeout=dict(type="int", default=DEFAULT_TIMEOUT),
    headers=dict(type="dict"),
    validate_certs=dict(type="bool", default=True),
    use_proxy=dict(type="bool", default=True),
    client_cert=dict(type="path"),
    client_key=dict(type="path", no_log=False),
    ca_path=dict(type="path"),
)


class BlobURLModule(AnsibleModule):
    """AnsibleModule that treats every URL inside its ``blobs`` option as a secret.

    ``blobs`` is a free-form list of dicts (other modules' items are passed as they are), so
    Ansible cannot mark its ``url`` values ``no_log`` by itself; they are added to the values
    masked in the invocation log and in everything the module returns.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Also when the task has no_log, in which case AnsibleModule does not log the invocation
        # (below) but still returns it in the result.
        self.no_log_values.update(blob_urls(self.params.get("blobs")))

    def _log_invocation(self):
        # Called from AnsibleModule.__init__, before the line above runs.
        self.no_log_values.update(blob_urls(self.params.get("blobs")))
        super()._log_invocation()


def download_request(params):
    """The normalised blobs and the concurrency of a module's parameters, checked; raises ValidationError."""
    blobs = normalize_blobs(params["blobs"])
    concurrency = validate_concurrency(params["concurrency"], maximum=MAX_CONCURRENCY)
    if not 0 <= params["retries"] <= MAX_RETRIES:
        raise ValidationError(f"retries {params['retries']!r} is out of range: it must be an integer from 0 to {MAX_RETRIES}")
    if params["timeout"] < 1:
        raise ValidationError(f"timeout {params['timeout']!r} is out of range: it must be at least 1 second")
    return blobs, concurrency


def download(params, blobs, concurrency, dest, check_mode):
    """``fetch_blobs()`` with the opener and retries the module's download options ask for."""
    opener = url_opener(
        timeout=params["timeout"],
        validate_certs=params["validate_certs"],
        use_proxy=params["use_proxy"],
        headers=params["headers"],
        client_cert=params["client_cert"],
        client_key=params["client_key"],
        ca_path=params["ca_path"],
    )
    return fetch_blobs(opener, blobs, dest, concurrency=concurrency, retries=params["retries"], check_mode=check_mode)
