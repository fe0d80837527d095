# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the downloader's CPU goes on one big blob: the target side alone, in-process.

Serves one blob (a pseudo-random 1 MiB block repeated, ``--mb`` of 10^6 bytes) from the tests'
blob server in a child process (its CPU is not counted), paced per connection like S3
(``--rate`` MB/s, 0 for loopback speed), and fetches it with ``download_batch.fetch_blobs`` in this
process, as the target modules do. Prints the wall time, the throughput, the CPU seconds of this
process (all threads) and per GB, those of the server, and with ``--profile`` the functions that
took the most CPU time in the fetching threads (cProfile on each thread's CPU clock, one profile
per thread, merged). With ``--parts`` it also measures the CPU per GB of the single steps (socket
reads, writes, hashing) in isolation.

    PYTHONPATH=build .venv/bin/python benchmarks/download_profile.py --mb 2000 --rate 85 --profile
"""

import argparse
import cProfile
import functools
import hashlib
import multiprocessing
import os
import pstats
import random
import resource
import shutil
import tempfile
import time

from ansible_collections.airgap.ecr.plugins.module_utils import download_ranges
from ansible_collections.airgap.ecr.plugins.module_utils import downloader
from ansible_collections.airgap.ecr.plugins.module_utils.download_batch import fetch_blobs
from ansible_collections.airgap.ecr.plugins.module_utils.download_http import url_opener
from ansible_collections.airgap.ecr.plugins.module_utils.layout import Layout
from ansible_collections.airgap.ecr.tests.support.blob_server import BlobServer

BLOCK = 1024 * 1024


def blob_data(megabytes):
    block = random.Random(12).randbytes(BLOCK)
    size = megabytes * 10**6
    return (block * (size // BLOCK + 1))[:size]


def serve(megabytes, rate, pipe):
    """The child: serve the blob until the parent closes the pipe."""
    data = blob_data(megabytes)
    with BlobServer() as server:
        if rate:
            server.bytes_per_second = int(rate * 10**6)
        url = server.add("blob", data)
        pipe.send((url, "sha256:" + hashlib.sha256(data).hexdigest(), len(data)))
        del data
        try:
            while pipe.recv() == "cpu":
                pipe.send(cpu_seconds())
        except EOFError:
            pass


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def profiled(function, profiles):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        profile = cProfile.Profile(time.thread_time)  # CPU seconds of the thread, not wall time
        profiles.append(profile)
        return profile.runcall(function, *args, **kwargs)

    return wrapper


def slow_fsync(fsync, seconds):
    """``os.fsync`` that takes ``seconds`` more for a big file (the blob's, not the small state files).

    As on a disk that needs that time to write the part just received (16 MiB in 0.25 s: 64 MB/s).
    """

    def wrapper(fd):
        fsync(fd)
        if os.fstat(fd).st_size > BLOCK:
            time.sleep(seconds)

    return wrapper


def server_cpu(pipe):
    pipe.send("cpu")
    return pipe.recv()


def fetch_once(args, url, digest, size, profiles, pipe):
    root = tempfile.mkdtemp(prefix="download-profile-", dir=args.dir)
    try:
        layout = Layout(root, strict_modes=False)
        limits = dict(range_threshold=args.threshold * 2**20, range_size=args.range_size * 2**20)
        started, cpu, served = time.monotonic(), cpu_seconds(), server_cpu(pipe)
        result = fetch_blobs(
            url_opener(allow_http=True),
            [dict(digest=digest, url=url, size=size)],
            layout,
            concurrency=args.concurrency,
            limits=limits,
        )
        wall, cpu, served = time.monotonic() - started, cpu_seconds() - cpu, server_cpu(pipe) - served
        layout.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if result["failures"]:
        raise SystemExit(f"the download failed: {result['failures']}")
    gb = size / 10**9
    print(
        f"{size / 10**6:.0f} MB, concurrency {args.concurrency}, ranges of {args.range_size} MiB"
        f" from {args.threshold} MiB, rate {args.rate or 'unpaced'} MB/s per connection:"
        f" wall {wall:.2f} s ({size / wall / 10**6:.0f} MB/s), CPU {cpu:.2f} s ({cpu / gb:.2f} CPU-s/GB),"
        f" server CPU {served:.2f} s ({served / gb:.2f} CPU-s/GB), load {os.getloadavg()[0]:.1f}"
    )
    if profiles:
        stats = pstats.Stats(*profiles)
        stats.sort_stats("tottime").print_stats(args.top)


def measure_parts(args, url, size):
    """CPU seconds per GB of reading the socket, writing a file, hashing, each alone (one connection, unpaced)."""
    gb = size / 10**9
    opener = url_opener(allow_http=True)
    buffer = bytearray(downloader.CHUNK_SIZE)
    for label, read in (("read1", None), ("readinto", memoryview(buffer))):
        response = opener(url, {})
        cpu = cpu_seconds()
        if read is None:
            while response.read1(downloader.CHUNK_SIZE):
                pass
        else:
            while response.readinto(read):
                pass
        response.close()
        print(f"socket {label} of {downloader.CHUNK_SIZE} bytes: {(cpu_seconds() - cpu) / gb:.2f} CPU-s/GB")
    block = blob_data(1)[: 4 * 2**20] * 4
    with tempfile.TemporaryFile(dir=args.dir) as handle:
        cpu = cpu_seconds()
        for _block in range(int(size // len(block))):
            handle.write(block)
        handle.flush()
        os.fsync(handle.fileno())
        print(f"write (buffered, then fsync): {(cpu_seconds() - cpu) / gb:.2f} CPU-s/GB")
        handle.seek(0)
        cpu = cpu_seconds()
        hasher = hashlib.sha256()
        view = memoryview(bytearray(downloader.CHUNK_SIZE))
        while True:
            count = handle.readinto(view)
            if not count:
                break
            hasher.update(view[:count])
        print(f"read back and sha256: {(cpu_seconds() - cpu) / gb:.2f} CPU-s/GB")
    cpu = cpu_seconds()
    hasher = hashlib.sha256()
    for _block in range(int(size // len(block))):
        hasher.update(block)
    print(f"sha256 alone: {(cpu_seconds() - cpu) / gb:.2f} CPU-s/GB")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--mb", type=int, default=2000, help="the blob's size in MB (10^6 bytes)")
    parser.add_argument("--rate", type=float, default=85.0, help="MB/s per connection, 0 for unpaced")
    parser.add_argument("--concurrency", type=int, default=downloader.DEFAULT_CONCURRENCY)
    parser.add_argument("--range-size", type=int, default=downloader.DEFAULT_RANGE_SIZE // 2**20, help="MiB")
    parser.add_argument("--threshold", type=int, default=downloader.DEFAULT_RANGE_THRESHOLD // 2**20, help="MiB")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="cProfile the fetching threads")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--parts", action="store_true", help="also the CPU per GB of each step alone")
    parser.add_argument("--dir", default=None, help="where the layout goes (default: the temporary directory)")
    parser.add_argument(
        "--fsync-seconds", type=float, default=0.0, help="add this wait to the fsync of the blob: a slow disk"
    )
    args = parser.parse_args()
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(args.mb, args.rate, child), daemon=True)
    server.start()
    url, digest, size = parent.recv()
    if args.fsync_seconds:
        os.fsync = slow_fsync(os.fsync, args.fsync_seconds)
    profiles = []
    if args.profile:
        downloader.BlobFetch.run = profiled(downloader.BlobFetch.run, profiles)
        download_ranges.RangedFetch.part = profiled(download_ranges.RangedFetch.part, profiles)
    try:
        for _run in range(args.repeat):
            profiles.clear()
            fetch_once(args, url, digest, size, profiles, parent)
        if args.parts:
            measure_parts(args, url, size)
    finally:
        parent.send("stop")
        parent.close()
        server.join(timeout=10)


if __name__ == "__main__":
    main()
