# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""download_ranges: a big blob as parallel byte ranges, against the HTTP server of test_blobs on 127.0.0.1."""

import errno
import json
import os
import re
import threading

import pytest

from ansible_collections.airgap.ecr.plugins.module_utils import download_batch
from ansible_collections.airgap.ecr.plugins.module_utils import target_module
from ansible_collections.airgap.ecr.plugins.module_utils.layout import Layout
from ansible_collections.airgap.ecr.tests.unit.plugins.module_utils.test_blobs import digest_of
from ansible_collections.airgap.ecr.tests.unit.plugins.module_utils.test_blobs import fetch
from ansible_collections.airgap.ecr.tests.unit.plugins.module_utils.test_blobs import make_data
from ansible_collections.airgap.ecr.tests.unit.plugins.module_utils.test_blobs import opener_fixture
from ansible_collections.airgap.ecr.tests.unit.plugins.module_utils.test_blobs import server_fixture
from ansible_collections.airgap.ecr.tests.unit.plugins.module_utils.test_blobs import tree

# test_blobs' fixtures (server, opener), used here by name.
FIXTURES = (server_fixture, opener_fixture)

PART = 64 * 1024
SIZE = 10 * PART + 1234  # 11 parts, the last one short
LIMITS = dict(range_threshold=2 * PART, range_size=PART)


def ranges_of(requests):
    """``[(first, last)]`` of the closed ranges requested, sorted."""
    found = []
    for request in requests:
        match = re.fullmatch(r"bytes=(\d+)-(\d+)", request["range"] or "")
        if match:
            found.append((int(match.group(1)), int(match.group(2))))
    return sorted(found)


def all_parts(size=SIZE, part=PART):
    return [(first, min(first + part, size) - 1) for first in range(0, size, part)]


def blob_entry(server, name, data, **extra):
    return dict({"digest": digest_of(data), "url": server.add(name, data), "size": len(data)}, **extra)


def side_files(dest, data):
    hexdigest = digest_of(data)[7:]
    directory = dest / "blobs" / "sha256"
    return directory / hexdigest, directory / f".{hexdigest}.partial", directory / f".{hexdigest}.ranges"


def test_big_blob_is_fetched_as_ranges_within_the_connection_budget(server, opener, tmp_path):
    data = make_data(SIZE, 1)
    small = make_data(1000, 2)
    server.delay = 0.02
    entries = [blob_entry(server, "big", data), blob_entry(server, "small", small)]
    result = fetch(opener, entries, tmp_path, concurrency=3, limits=LIMITS)
    assert result["failures"] == [] and [b["status"] for b in result["blobs"]] == ["fetched", "fetched"]
    assert result["blobs"][0]["bytes"] == SIZE and result["blobs"][0]["resumed_from"] == 0
    assert ranges_of(server.requests("big")) == all_parts()
    assert [r["range"] for r in server.requests("small")] == [None], "a small blob is one stream"
    assert 1 < server.max_in_flight <= 3, "ranges at once, never more connections than concurrency"
    final, partial, state = side_files(tmp_path, data)
    assert final.read_bytes() == data and not partial.exists() and not state.exists()
    assert os.stat(final).st_mode & 0o777 == 0o644


def test_below_the_threshold_or_without_size_is_one_stream(server, opener, tmp_path):
    data = make_data(SIZE, 3)
    entries = [blob_entry(server, "a", data)]
    fetch(opener, entries, tmp_path / "off", limits=dict(LIMITS, range_threshold=0))
    fetch(opener, [{"digest": digest_of(data), "url": entries[0]["url"]}], tmp_path / "nosize", limits=LIMITS)
    fetch(opener, entries, tmp_path / "high", limits=dict(LIMITS, range_threshold=SIZE + 1))
    assert [r["range"] for r in server.requests("a")] == [None, None, None]


def test_one_range_failing_is_retried_alone(server, opener, tmp_path):
    data = make_data(SIZE, 4)
    server.plan("big", {"status": 503}, {"cut": 1000}, range=f"bytes={3 * PART}-{4 * PART - 1}")
    result = fetch(opener, [blob_entry(server, "big", data)], tmp_path, limits=LIMITS, retries=2)
    blob = result["blobs"][0]
    assert blob["status"] == "fetched", result["failures"]
    requests = server.requests("big")
    # The failing part was asked three times (503, cut after 1000 bytes, then the rest); no other part twice.
    assert [r["range"] for r in requests].count(f"bytes={3 * PART}-{4 * PART - 1}") == 2
    assert [r["range"] for r in requests].count(f"bytes={3 * PART + 1000}-{4 * PART - 1}") == 1
    assert len(requests) == len(all_parts()) + 2
    assert blob["bytes"] == SIZE
    assert side_files(tmp_path, data)[0].read_bytes() == data


def test_interrupted_run_is_resumed_by_the_next_run(server, opener, tmp_path):
    data = make_data(SIZE, 5)
    failing = f"bytes={7 * PART}-{8 * PART - 1}"
    server.plan("big", {"status": 500}, {"status": 500}, range=failing)
    entry = blob_entry(server, "big", data)
    result = fetch(opener, [entry], tmp_path, limits=LIMITS, retries=1)
    assert result["blobs"][0]["status"] == "failed"
    error = result["failures"][0]["error"]
    assert f"bytes {7 * PART}-{8 * PART - 1}: HTTP 500" in error and "after 2 attempts" in error
    final, partial, state = side_files(tmp_path, data)
    assert not final.exists() and partial.stat().st_size == SIZE
    done = json.loads(state.read_text())["done"]
    assert 7 not in done and done, "the parts that arrived are recorded"

    server.log.clear()
    result = fetch(opener, [entry], tmp_path, limits=LIMITS, retries=1)
    blob = result["blobs"][0]
    assert blob["status"] == "fetched"
    missing = [part for index, part in enumerate(all_parts()) if index not in done]
    assert ranges_of(server.requests("big")) == missing, "only the parts still missing are fetched again"
    assert blob["resumed_from"] == sum(
        last + 1 - first for index, (first, last) in enumerate(all_parts()) if index in done
    )
    assert final.read_bytes() == data and not partial.exists() and not state.exists()


def test_prefix_of_a_stream_download_is_kept(server, opener, tmp_path):
    data = make_data(SIZE, 6)
    final, partial, state = side_files(tmp_path, data)
    partial.parent.mkdir(parents=True)
    partial.write_bytes(data[: 2 * PART + 10])
    result = fetch(opener, [blob_entry(server, "big", data)], tmp_path, limits=LIMITS)
    assert result["blobs"][0]["status"] == "fetched" and result["blobs"][0]["resumed_from"] == 2 * PART
    assert ranges_of(server.requests("big")) == all_parts()[2:]
    assert final.read_bytes() == data and not state.exists()


def test_server_ignoring_range_is_read_as_one_stream(server, opener, tmp_path):
    data = make_data(SIZE, 7)
    server.plan("big", {"ignore_range": True})
    result = fetch(opener, [blob_entry(server, "big", data)], tmp_path, limits=LIMITS)
    blob = result["blobs"][0]
    assert blob["status"] == "fetched" and blob["bytes"] == SIZE
    assert [(r["range"], r["status"]) for r in server.requests("big")] == [(f"bytes=0-{PART - 1}", 200)]
    final, partial, state = side_files(tmp_path, data)
    assert final.read_bytes() == data and not partial.exists() and not state.exists()


def test_wrong_content_is_detected_and_nothing_is_renamed(server, opener, tmp_path):
    data = make_data(SIZE, 8)
    corrupt_part = f"bytes={5 * PART}-{6 * PART - 1}"
    server.plan("big", {"corrupt": True}, {"corrupt": True}, range=corrupt_part)
    result = fetch(opener, [blob_entry(server, "big", data)], tmp_path, limits=LIMITS, retries=1)
    error = result["failures"][0]["error"]
    assert f"not {digest_of(data)}" in error and "after 2 attempts" in error
    assert tree(tmp_path / "blobs" / "sha256") == [], "no .partial, no state, nothing at the final path"
    # The whole blob was fetched again after the first mismatch.
    assert len(ranges_of(server.requests("big"))) == 2 * len(all_parts())


def test_object_of_another_size_is_refused(server, opener, tmp_path):
    data = make_data(SIZE, 9)
    entry = dict(blob_entry(server, "big", data), size=SIZE + 1)
    result = fetch(opener, [entry], tmp_path, limits=LIMITS, retries=3)
    assert (
        f"the server has {SIZE} bytes for this blob, but its size should be {SIZE + 1}"
        in result["failures"][0]["error"]
    )
    assert len(server.requests("big")) == 1


class FullDisk:
    """A file handle whose writes fail with ENOSPC once it is past ``limit``."""

    def __init__(self, handle, limit):
        self.handle = handle
        self.limit = limit

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.handle.close()

    def write(self, chunk):
        if self.handle.tell() >= self.limit:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.handle.write(chunk)


class FullLayout(Layout):
    def open_partial_rw(self, digest):
        return FullDisk(super().open_partial_rw(digest), 4 * PART)

    def open_partial(self, digest, append):
        return FullDisk(super().open_partial(digest, append), 4 * PART)


@pytest.mark.parametrize("limits", [LIMITS, dict(range_threshold=0)])
def test_local_write_error_leaves_no_partial(server, opener, tmp_path, limits):
    data = make_data(SIZE, 10)
    blobs = target_module.normalize_blobs([blob_entry(server, "big", data)])
    result = download_batch.fetch_blobs(opener, blobs, FullLayout(str(tmp_path)), limits=limits, retry_delay=0)
    assert "No space left on device" in result["failures"][0]["error"]
    assert tree(tmp_path / "blobs" / "sha256") == []


def counting(opener):
    """``opener`` that also counts the responses open at once (opened, not yet closed), the most in ``peak``."""
    lock = threading.Lock()
    state = {"open": 0, "peak": 0}

    def open_blob(url, headers):
        response = opener(url, headers)
        with lock:
            state["open"] += 1
            state["peak"] = max(state["peak"], state["open"])
        close, closed = response.close, []

        def closing():
            with lock:
                if not closed:
                    closed.append(True)
                    state["open"] -= 1
            close()

        response.close = closing
        return response

    return open_blob, state


@pytest.mark.parametrize("concurrency", [1, 2])
def test_small_budget_does_not_deadlock(server, opener, tmp_path, concurrency):
    data = [make_data(SIZE, 20 + i) for i in range(3)]
    entries = [blob_entry(server, f"b{i}", d) for i, d in enumerate(data)]
    server.delay = 0.03  # so that requests overlap
    counted, state = counting(opener)
    result = fetch(counted, entries, tmp_path, concurrency=concurrency, limits=LIMITS)
    # Several big blobs at once, each in ranges: all fetched, never more connections open than the budget. Counted
    # on the client, where the budget applies: the server's own count lags (a handler ends after the client has
    # read the last byte, closed, and given the connection to another part).
    assert result["fetched"] == 3 and 1 <= state["peak"] <= concurrency
