# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the benchmarks run against: the emulator, its images, its latency, and the environment of every command.

The images are deterministic (tests/emulator/images.py), pushed through the ECR API of the
emulator the way a client pushes them:

* ``bench/layers:50`` - 50 layers of 1 KiB, for the layer URL rows (N = 1, 10, 50 digests);
* ``bench/fleet:10`` - 10 layers of 64 KiB, for the image_fetch fleet row;
* ``bench/big:500mb`` - 10 layers of 50 MB of incompressible content (about 500 MB), for the delivery row;
* ``bench/via:200mb`` - 4 layers of 50 MB (``BENCH_VIA_MB`` in all), for the row of ``image_fetch_via``;
* ``bench/biglayer:<size>`` - one big layer (2 GB by default, ``BENCH_BIG_LAYER_MB``) and 9 layers of 1 MB, for
  the big-layer row. Its big layer repeats one incompressible block of 1 MiB, so that building it costs a copy,
  not a random generator's work; gzip level 0 stores it as it is, and nothing on the way compresses it.
"""

import gzip
import os
import sys
from dataclasses import dataclass

from botocore.config import Config

try:
    from ansible_collections.airgap.ecr.tests.emulator import harness
    from ansible_collections.airgap.ecr.tests.emulator import images
    from ansible_collections.airgap.ecr.tests.support.credentials import environment
except ImportError as exc:  # not run the way the Makefile runs it
    raise SystemExit(f"{exc}: run the benchmarks with `make bench` (PYTHONPATH names the build tree)") from exc

HERE = os.path.dirname(os.path.abspath(__file__))

REGION = "us-east-1"
# The ECR operations the contenders call; latency is injected on them (and, where no blob is
# downloaded, on every API request, which also covers the STS and IAM calls of the peer modules).
ECR_OPERATIONS = ("GetDownloadUrlForLayer", "BatchGetImage")
# Blobs go up in parts of this size (real ECR wants at least 5 MiB).
PUSH_CHUNK = 16 * 1024 * 1024


@dataclass(frozen=True)
class ImageSpec:
    """An image to push: ``layers`` layers of ``layer_size`` bytes of content each."""

    repository: str
    tag: str
    layers: int
    layer_size: int
    seed: int
    # Size of a first, big layer made of one repeated 1 MiB block (0: none); ``layers`` counts it.
    big_layer_size: int = 0


LAYERS_IMAGE = ImageSpec("bench/layers", "50", 50, 1024, 10000)
FLEET_IMAGE = ImageSpec("bench/fleet", "10", 10, 64 * 1024, 20000)
BIG_IMAGE = ImageSpec("bench/big", "500mb", 10, 50 * 1000 * 1000, 30000)
# Row 9: an image of about 200 MB (4 layers of 50 MB, BENCH_VIA_MB in all) to 20 hosts (BENCH_VIA_HOSTS).
VIA_HOSTS = int(os.environ.get("BENCH_VIA_HOSTS") or 20)
VIA_IMAGE = ImageSpec("bench/via", "200mb", 4, int(os.environ.get("BENCH_VIA_MB") or 200) * 1000 * 1000 // 4, 50000)
TILE = 1024 * 1024


def big_layer_image(megabytes):
    """``bench/biglayer``: one layer of ``megabytes`` MB (10^6 bytes) and 9 layers of 1 MB."""
    return ImageSpec("bench/biglayer", f"{megabytes}mb", 10, 1000 * 1000, 40000, big_layer_size=megabytes * 1000 * 1000)


def stored_layer(size, seed, tiled=False):
    """A gzip'ed tar holding ``size`` incompressible bytes; stored (level 0), since random data would not shrink.

    ``tiled``: the bytes repeat one pseudo-random block of 1 MiB (cheap for layers of gigabytes).
    """
    if tiled:
        block = images.pseudo_random_bytes(min(size, TILE), seed)
        content = (block * (size // len(block) + 1))[:size]
    else:
        content = images.pseudo_random_bytes(size, seed)
    return gzip.compress(images.make_tar({f"bench/{seed}.bin": content}), compresslevel=0, mtime=0)


def push(client, spec):
    """Push ``spec``; return what images.push_image returns (digests and sizes)."""
    sizes = [spec.layer_size] * spec.layers
    if spec.big_layer_size:
        sizes[0] = spec.big_layer_size
    layers = [
        stored_layer(size, spec.seed + index, tiled=size == spec.big_layer_size) for index, size in enumerate(sizes)
    ]
    config = images.make_config(layers, os="linux", arch="amd64")
    return images.push_image(
        client, spec.repository, spec.tag, layers, config, media_type="docker", chunk_size=PUSH_CHUNK
    )


def blob_digests(pushed):
    """The config digest, then the layer digests of a pushed image."""
    return [pushed["config"]["digest"]] + [layer["digest"] for layer in pushed["layers"]]


def blob_bytes(pushed):
    return pushed["config"]["size"] + sum(layer["size"] for layer in pushed["layers"])


def set_latency(emulator, latency_ms, operations=("*",)):
    """Replace every fault rule by a latency of ``latency_ms`` on each of ``operations``."""
    emulator.clear_faults()
    if latency_ms:
        for operation in operations:
            emulator.faults(operation=operation, latency_ms=latency_ms)


def api_calls(entries):
    """``(ECR calls, all API calls)`` in request log entries; downloads through pre-signed URLs are not API calls."""
    api = [entry for entry in entries if entry["operation"] not in ("GetObject", "HeadObject")]
    return sum(1 for entry in api if entry["service"] == "ecr"), len(api)


def s3_bytes(entries):
    """The bytes of layer blobs S3 served in request log entries (each served GET logs its body's length)."""
    return sum(entry.get("bytes", 0) for entry in entries if entry["operation"] == "GetObject")


def command_env(work_dir):
    """The environment of every benchmarked command: the emulator's credentials, no user configuration.

    AWS and Ansible settings of the caller are left out (except the collections path), so
    that a profile, a config file or ANSIBLE_KEEP_REMOTE_FILES cannot change the results.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "ANSIBLE_", "BOTO_")) and name != "PYTHONPATH"
    }
    config = os.path.join(work_dir, "ansible.cfg")
    with open(config, "w", encoding="utf-8") as handle:
        handle.write("# airgap.ecr benchmarks: Ansible's defaults\n[defaults]\n")
    env.update(environment())
    env.update(
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        ANSIBLE_COLLECTIONS_PATH=collections_path(),
        ANSIBLE_CONFIG=config,
        ANSIBLE_CALLBACK_PLUGINS=os.path.join(HERE, "callback_plugins"),
        ANSIBLE_CALLBACKS_ENABLED="bench_timer",
        ANSIBLE_LOCAL_TEMP=os.path.join(work_dir, "ansible-local"),
        ANSIBLE_REMOTE_TEMP=os.path.join(work_dir, "ansible-remote"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
    )
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "/usr/bin:/bin")])
    return env


def collections_path():
    """Where ansible finds airgap.ecr and amazon.aws: the build tree of ``make setup``."""
    configured = os.environ.get("ANSIBLE_COLLECTIONS_PATH") or os.environ.get("AIRGAP_BUILD")
    if not configured:
        raise SystemExit("ANSIBLE_COLLECTIONS_PATH is not set: run the benchmarks with `make bench`")
    return configured


class Workload:
    """The emulator with the benchmark images, for the duration of a ``with`` block."""

    def __init__(self, work_dir):
        self.work_dir = work_dir
        self.emulator = harness.Emulator(region=REGION, workdir=os.path.join(work_dir, "emulator"))
        self.pushed = {}

    def __enter__(self):
        self.emulator.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.emulator.stop()

    @property
    def endpoint(self):
        return self.emulator.endpoint_url

    def ecr(self, **kwargs):
        return self.emulator.client("ecr", **kwargs)

    def image(self, spec):
        """The pushed image ``spec`` (pushed on first use)."""
        if spec not in self.pushed:
            self.emulator.clear_faults()
            # CompleteLayerUpload of a blob of gigabytes hashes and stores it in one request: wait for it
            # (botocore's 60 s would retry a completed upload, which then is unknown).
            self.pushed[spec] = push(self.ecr(config=Config(read_timeout=900, retries={"total_max_attempts": 1})), spec)
            self.emulator.clear_requests()
        return self.pushed[spec]

    def forget(self, spec):
        """Delete the blobs of ``spec`` from the emulator (the big-layer image holds gigabytes of memory)."""
        pushed = self.pushed.pop(spec, None)
        for digest in blob_digests(pushed) if pushed else ():
            self.emulator.delete_blob(spec.repository, digest)

    def ecr_calls(self, clear=True):
        """``(ECR calls, all API calls, bytes of blobs from S3)`` since the log was last cleared."""
        entries = self.emulator.requests(clear=clear)
        return api_calls(entries) + (s3_bytes(entries),)
