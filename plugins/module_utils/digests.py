# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Content digests: split one, hash bytes, a stream or a file, compare.

The one place that knows how ``algorithm:hex`` is taken apart and hashed; standard library only,
so that it runs on target hosts. Validation of a digest given as input (its form, with a message
for a person) is in ``validation.py``.
"""

import hashlib

CHUNK_SIZE = 256 * 1024
ALGORITHMS = {"sha256": hashlib.sha256, "sha512": hashlib.sha512}


def split_digest(digest):
    """``"sha256:ab..."`` -> ``("sha256", "ab...")``."""
    algorithm, encoded = digest.split(":", 1)
    return algorithm, encoded


def new_hasher(digest_or_algorithm):
    """A fresh hash object of the digest's algorithm (``sha256:...`` or ``sha256``)."""
    algorithm = digest_or_algorithm.split(":", 1)[0]
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}: supported are " + ", ".join(sorted(ALGORITHMS)))
    return ALGORITHMS[algorithm]()


def digest_of(data, algorithm="sha256"):
    """The digest of ``data`` (bytes, or text as its exact UTF-8 bytes), as a registry computes it."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    hasher = new_hasher(algorithm)
    hasher.update(data)
    return f"{algorithm}:{hasher.hexdigest()}"


def hash_stream(stream, digest, chunk_size=CHUNK_SIZE):
    """``(size, hasher)`` of what ``stream`` (a binary file object) has left to read."""
    hasher = new_hasher(digest)
    size = 0
    while True:
        chunk = stream.read(chunk_size)
        if not chunk:
            return size, hasher
        hasher.update(chunk)
        size += len(chunk)


def matches(hasher, digest):
    """Whether the hash object's value is the hex part of ``digest``."""
    return hasher.hexdigest() == split_digest(digest)[1]


def format_digest(hasher):
    """``"sha256:<hex>"`` of a hash object."""
    return f"{hasher.name}:{hasher.hexdigest()}"
