# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The body of a blob download: its byte range, a corrupted copy, its pace.

Standard library only: the emulator's S3 side and the tests' blob server
(tests/support/blob_server.py) both serve blobs through these.
"""

import re
import time

PACE_CHUNK = 64 * 1024
FLIP = bytes(255 - value for value in range(256))


class RangeNotSatisfiable(ValueError):
    """A ``Range`` header that no byte of the object satisfies (HTTP 416)."""

    def __init__(self, header, size):
        super().__init__(f"range {header!r} is not satisfiable for an object of {size} bytes")
        self.header = header
        self.size = size


def parse_range(header, size):
    """(first, last) of a single ``bytes=`` range, None to serve the whole object, or raise RangeNotSatisfiable."""
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header or "")
    if not match or not (match.group(1) or match.group(2)):
        return None
    if not match.group(1):
        suffix = int(match.group(2))
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(header, size)
        return max(0, size - suffix), size - 1
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) else size - 1
    if first >= size:
        raise RangeNotSatisfiable(header, size)
    if last < first:
        return None
    return first, min(last, size - 1)


def content_range(span, size):
    """The ``Content-Range`` value of a 206 answer for ``span`` (first, last)."""
    return f"bytes {span[0]}-{span[1]}/{size}"


def corrupted(data):
    """``data`` with every byte flipped: same length, wrong digest."""
    return data.translate(FLIP)


def paced(data, bytes_per_second):
    """Yield ``data`` in chunks no faster than ``bytes_per_second`` (one connection's throughput)."""
    started = time.monotonic()
    view = memoryview(data)
    for offset in range(0, len(data), PACE_CHUNK):
        ahead = started + offset / bytes_per_second - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        yield bytes(view[offset : offset + PACE_CHUNK])
