# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tests' one digest helper: ``algorithm:hex`` of bytes or of a file, and deterministic blob bytes."""

import hashlib

READ_SIZE = 1 << 20


def digest_of(data, algorithm="sha256"):
    """``algorithm:hex`` of ``data`` (bytes)."""
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def file_digest(path, algorithm="sha256"):
    """``algorithm:hex`` of the file at ``path``, read in 1 MiB pieces."""
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(READ_SIZE), b""):
            hasher.update(chunk)
    return f"{algorithm}:{hasher.hexdigest()}"


def make_data(size, seed):
    """``size`` deterministic, incompressible bytes: the same ``seed`` gives the same bytes."""
    block = b"".join(hashlib.sha512(f"{seed}-{index}".encode()).digest() for index in range(64))
    return (block * (size // len(block) + 1))[:size]
