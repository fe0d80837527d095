# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The benchmark groups. Each runs its contenders side by side: in every repetition each
contender runs once, in an order rotated from one repetition to the next."""

import os
import shutil
import socket
import statistics
import time
from collections import defaultdict

import bundles
from runners import CommandError
from workload import BIG_IMAGE
from workload import ECR_OPERATIONS
from workload import FLEET_IMAGE
from workload import LAYERS_IMAGE
from workload import VIA_HOSTS
from workload import VIA_IMAGE
from workload import ImageSpec
from workload import big_layer_image
from workload import blob_bytes
from workload import blob_digests
from workload import set_latency

DIGEST_COUNTS = (1, 10, 50)
CONCURRENCIES = (1, 4, 8, 16)
# The host counts of row 5 (BENCH_FLEET_HOSTS, comma-separated; T9 needs FLEET_FORKS and a larger one).
FLEET_SIZES = tuple(int(count) for count in (os.environ.get("BENCH_FLEET_HOSTS") or "1,10,50,200").split(","))
# Forks for the fleet row: the machine has 2 cores; more forks only add contention.
FLEET_FORKS = 10
# Blobs curl fetches at once for the delivery floor, as many as the role downloads at once by default.
FLOOR_PARALLEL = 4
DELIVERY_SIZE = "500MB"
# The big layer of the big-layer row, in MB (10^6 bytes): 2 GB unless BENCH_BIG_LAYER_MB says otherwise.
BIG_LAYER_MB = int(os.environ.get("BENCH_BIG_LAYER_MB") or 2000)
# A second place for row 7 (BENCH_BIG_LAYER_DIR, for example a tmpfs under /dev/shm): the role and the floor also
# write there, next to their runs on the work directory's disk, so the row shows the downloader without the disk.
# The role fsyncs every part and blob; curl leaves its bytes in the page cache, so a disk slower than the network
# weighs on the role's side only.
BIG_LAYER_DIR = os.environ.get("BENCH_BIG_LAYER_DIR") or None
# The throughput of one connection to S3 in the delivery row, in MB/s (10^6 bytes): AWS's S3 performance
# guidelines plan on 85-90 MB/s per request, and more requests at once for more. Loopback on this
# machine is several times faster than any network, and its cost is CPU that the emulator, the
# downloader and ansible-playbook share; BENCH_S3_RATE=0 measures it anyway.
S3_CONNECTION_RATE_MB = 85.0


def rate_text(rate_mb):
    return f"at {rate_mb:g} MB/s per connection" if rate_mb else "at loopback speed"


def rotated(items, shift):
    items = list(items)
    shift %= len(items)
    return items[shift:] + items[:shift]


class Results:
    """Samples by (group, contender, size); medians of their fields."""

    def __init__(self):
        self.samples = defaultdict(list)

    def add(self, group, contender, size, sample):
        self.samples[(group, contender, size)].append(sample)

    def get(self, group, contender, size):
        return self.samples.get((group, contender, size), [])

    def median(self, group, contender, size, field="wall"):
        values = [sample[field] for sample in self.get(group, contender, size) if sample.get(field) is not None]
        return statistics.median(values) if values else None

    def as_json(self):
        return [
            {"group": group, "contender": contender, "size": size, "samples": samples}
            for (group, contender, size), samples in self.samples.items()
        ]


class Bench:
    """What every group needs: the workload, a runner, the latency, where to log."""

    def __init__(self, workload, runner, latency_ms, results, log, deadline=None, s3_rate_mb=S3_CONNECTION_RATE_MB):
        self.workload = workload
        self.s3_rate_mb = s3_rate_mb
        self.runner = runner
        self.latency_ms = latency_ms
        self.results = results
        self.log = log
        self.deadline = deadline

    def record(self, group, contender, size, sample):
        """Keep a sample and show it; stop the whole run when it is past its deadline."""
        self.results.add(group, contender, size, sample)
        task = f", task {sample['task']:.2f} s" if sample.get("task") is not None else ""
        self.log(
            f"  {group:<11} {contender:<16} {size!s:<6} wall {sample['wall']:7.2f} s{task}, {sample['ecr_calls']} "
            "ECR calls"
        )
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise CommandError("the benchmark ran past its time limit (--max-minutes); giving up")

    def scratch_dir(self, name):
        path = os.path.join(self.runner.work_dir, name)
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
        return path


# ---------------------------------------------------------------------- layer URLs (contenders 1 to 4)


def layer_url_contenders(bench, repository):
    runner = bench.runner
    return {
        "ours": lambda digests: runner.playbook("layer_urls.yml", {"repository": repository, "digests": digests}),
        "loop": lambda digests: runner.playbook("layer_urls_loop.yml", {"repository": repository, "digests": digests}),
        "aws_cli": lambda digests: runner.script(
            "aws_cli_layer_urls.sh", repository, runner.write_lines("digests.txt", digests)
        ),
        "boto3_floor": lambda digests: runner.boto3_floor(repository, digests),
    }


def layer_urls(bench, reps):
    """(1) one task with digests, (2) a loop, (3) the AWS CLI N times, (4) in-process boto3, for N digests."""
    image = bench.workload.image(LAYERS_IMAGE)
    digests = [layer["digest"] for layer in image["layers"]]

    contenders = layer_url_contenders(bench, LAYERS_IMAGE.repository)
    set_latency(bench.workload.emulator, bench.latency_ms)
    for rep in range(reps):
        for count in DIGEST_COUNTS:
            for name in rotated(contenders, rep + count):
                bench.record("layer_urls", name, count, contenders[name](digests[:count]))


def concurrency(bench, reps):
    """(1) at N=50 with concurrency 1, 4, 8 and 16."""
    image = bench.workload.image(LAYERS_IMAGE)
    digests = [layer["digest"] for layer in image["layers"]][: max(DIGEST_COUNTS)]
    set_latency(bench.workload.emulator, bench.latency_ms)
    for rep in range(reps):
        for value in rotated(CONCURRENCIES, rep):
            sample = bench.runner.playbook(
                "layer_urls.yml", {"repository": LAYERS_IMAGE.repository, "digests": digests, "concurrency": value}
            )
            bench.record("concurrency", value, len(digests), sample)


def peers(bench, reps):
    """(1) at N=1 against amazon.aws modules of one task each, same playbook shape, same endpoint."""
    image = bench.workload.image(LAYERS_IMAGE)
    contenders = {
        "ours": ("layer_urls.yml", {"repository": LAYERS_IMAGE.repository, "digests": [image["layers"][0]["digest"]]}),
        "sts_assume_role": ("peer_sts_assume_role.yml", {}),
        "aws_caller_info": ("peer_aws_caller_info.yml", {}),
    }
    set_latency(bench.workload.emulator, bench.latency_ms)
    for rep in range(reps):
        for name in rotated(contenders, rep):
            playbook, variables = contenders[name]
            bench.record("peers", name, 1, bench.runner.playbook(playbook, variables))


# ---------------------------------------------------------------------- fleet (row 5)


def write_inventory(bench, hosts):
    return bench.runner.write_lines("inventory.ini", ["[fleet]"] + host_names(hosts))


def host_names(hosts):
    return [f"host{index:03d}" for index in range(1, hosts + 1)]


def check_layouts(dest, hosts):
    """Every host's destination must hold a complete layout (index.json is written last)."""
    missing = [host for host in hosts if not os.path.exists(os.path.join(dest, host, "index.json"))]
    if missing:
        raise CommandError(f"image_fetch left no OCI layout for {', '.join(missing[:5])}")


def fleet(bench, reps):
    """The image_fetch role to H local hosts, one destination each: ECR calls per play and wall time."""
    bench.workload.image(FLEET_IMAGE)
    set_latency(bench.workload.emulator, bench.latency_ms, ECR_OPERATIONS)
    variables = {"repository": FLEET_IMAGE.repository, "tag": FLEET_IMAGE.tag}
    for rep in range(reps):
        for hosts in rotated(FLEET_SIZES, rep):
            dest = bench.scratch_dir("fleet")
            inventory = write_inventory(bench, hosts)
            sample = bench.runner.playbook(
                "image_fetch.yml",
                dict(variables, dest=dest),
                inventory=inventory,
                forks=min(hosts, FLEET_FORKS),
                module_cpu=True,
            )
            check_layouts(dest, host_names(hosts))
            shutil.rmtree(dest)
            sample["forks"] = min(hosts, FLEET_FORKS)
            bench.record("fleet", "image_fetch", hosts, sample)


# ---------------------------------------------------------------------- delivery (row 6)


def bytes_under(path):
    return sum(os.path.getsize(os.path.join(folder, name)) for folder, _dirs, names in os.walk(path) for name in names)


def delivery_contenders(bench, pushed, urls):
    runner = bench.runner
    repository = BIG_IMAGE.repository
    digests = blob_digests(pushed)
    digests_file = runner.write_lines("big-digests.txt", digests)
    common = {"repository": repository}
    return {
        "image_fetch": lambda dest: runner.playbook("image_fetch.yml", dict(common, tag=BIG_IMAGE.tag, dest=dest)),
        "by_hand": lambda dest: runner.script("fetch_by_hand.sh", repository, digests_file, dest),
        "hand_written": lambda dest: runner.playbook("hand_written.yml", dict(common, digests=digests, dest=dest)),
        "curl_floor": lambda dest: runner.curl_floor(urls, dest, FLOOR_PARALLEL),
    }


def delivery_network(bench):
    """Latency on the ECR operations, and the per-connection throughput of the blob downloads."""
    set_latency(bench.workload.emulator, bench.latency_ms, ECR_OPERATIONS)
    if bench.s3_rate_mb:
        bench.workload.emulator.faults(operation="GetObject", bytes_per_second=int(bench.s3_rate_mb * 1000 * 1000))


def delivery(bench, reps):
    """A 10-layer image of about 500 MB to one host: the role, a shell script, a hand-written playbook, curl."""
    pushed = bench.workload.image(BIG_IMAGE)
    total = blob_bytes(pushed)
    delivery_network(bench)
    urls = bench.runner.resolve_urls(BIG_IMAGE.repository, blob_digests(pushed))
    contenders = delivery_contenders(bench, pushed, urls)
    # One unmeasured download first, so that every measured one finds the blobs equally warm.
    contenders["curl_floor"](bench.scratch_dir("delivery"))
    for rep in range(reps):
        for name in rotated(contenders, rep):
            dest = bench.scratch_dir("delivery")
            sample = contenders[name](dest)
            if bytes_under(dest) < total:
                raise CommandError(f"{name} wrote {bytes_under(dest)} bytes, fewer than the {total} of the image")
            shutil.rmtree(dest)
            bench.record("delivery", name, DELIVERY_SIZE, sample)


# ---------------------------------------------------------------------- big layer (row 7)


def big_layer_size():
    return f"{BIG_LAYER_MB}MB"


# The contenders of row 7 that write under BENCH_BIG_LAYER_DIR, when it is set (the others write to the disk).
ON_BIG_LAYER_DIR = ("image_fetch_dir", "curl_floor_dir")


def big_layer_dest(bench, name):
    """An empty directory for the contender ``name`` of row 7: under BENCH_BIG_LAYER_DIR for ON_BIG_LAYER_DIR."""
    if name not in ON_BIG_LAYER_DIR:
        return bench.scratch_dir("big_layer")
    path = os.path.join(BIG_LAYER_DIR, "big_layer")
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def big_layer_contenders(bench, spec, pushed):
    runner = bench.runner
    urls = runner.resolve_urls(spec.repository, blob_digests(pushed))
    common = {"repository": spec.repository, "tag": spec.tag}
    no_ranges = {"image_fetch_range_threshold": max(layer["size"] for layer in pushed["layers"]) + 1}
    contenders = {
        "image_fetch": lambda dest: runner.playbook("image_fetch.yml", dict(common, dest=dest)),
        "no_ranges": lambda dest: runner.playbook("image_fetch.yml", dict(common, dest=dest, **no_ranges)),
        "curl_floor": lambda dest: runner.curl_floor(urls, dest, FLOOR_PARALLEL),
    }
    if BIG_LAYER_DIR:
        contenders["image_fetch_dir"] = contenders["image_fetch"]
        contenders["curl_floor_dir"] = contenders["curl_floor"]
    return contenders


def big_layer(bench, reps):
    """One big layer and 9 small ones to one host: the role, the role without ranges, the curl floor; with
    BENCH_BIG_LAYER_DIR, the role and the floor writing there too (a tmpfs: without the disk)."""
    spec = big_layer_image(BIG_LAYER_MB)
    pushed = bench.workload.image(spec)
    total = blob_bytes(pushed)
    try:
        delivery_network(bench)
        contenders = big_layer_contenders(bench, spec, pushed)
        for rep in range(reps):
            for name in rotated(contenders, rep):
                dest = big_layer_dest(bench, name)
                sample = contenders[name](dest)
                written = bytes_under(dest)
                shutil.rmtree(dest)
                if written < total:
                    raise CommandError(f"{name} wrote {written} bytes, fewer than the {total} of the image")
                bench.record("big_layer", name, big_layer_size(), sample)
    finally:
        for place in (bench.runner.work_dir, BIG_LAYER_DIR):
            if place:
                shutil.rmtree(os.path.join(place, "big_layer"), ignore_errors=True)
        bench.workload.forget(spec)


# ---------------------------------------------------------------------- how the bytes travel (row 9)


def via_contenders(bench, common):
    runner = bench.runner
    forks = min(VIA_HOSTS, FLEET_FORKS)

    def role(dest, **variables):
        inventory = write_inventory(bench, VIA_HOSTS)
        return runner.playbook("image_fetch.yml", dict(common, dest=dest, **variables), inventory, forks=forks)

    def controller(dest):
        return role(dest, image_fetch_via="controller", image_fetch_cache_dir=os.path.join(dest, "controller-cache"))

    def copy_pattern(dest):
        inventory = write_inventory(bench, VIA_HOSTS)
        return runner.playbook("download_then_copy.yml", dict(common, dest=dest), inventory, forks=forks)

    return {"direct": role, "controller": controller, "copy": copy_pattern}


def via(bench, reps):
    """One image of about 200 MB to 20 local hosts: direct from S3, through the controller's cache, and the
    pattern people use today (download once on the controller, then ansible.builtin.copy to each host)."""
    pushed = bench.workload.image(VIA_IMAGE)
    total = blob_bytes(pushed)
    delivery_network(bench)
    contenders = via_contenders(bench, {"repository": VIA_IMAGE.repository, "tag": VIA_IMAGE.tag})
    size = via_size()
    try:
        for rep in range(reps):
            for name in rotated(contenders, rep):
                dest = bench.scratch_dir("via")
                sample = contenders[name](dest)  # with s3_bytes, from the emulator's request log
                check_layouts(dest, host_names(VIA_HOSTS))
                written = bytes_under(os.path.join(dest, host_names(VIA_HOSTS)[-1]))
                shutil.rmtree(dest)
                if written < total:
                    raise CommandError(f"{name} wrote {written} bytes on a host, fewer than the {total} of the image")
                bench.record("via", name, size, sample)
    finally:
        shutil.rmtree(os.path.join(bench.runner.work_dir, "via"), ignore_errors=True)


def via_size():
    return f"H={VIA_HOSTS}"


GROUPS = {
    "layer_urls": layer_urls,
    "concurrency": concurrency,
    "peers": peers,
    "fleet": fleet,
    "delivery": delivery,
    "big_layer": big_layer,
    "via": via,
    "bundle_delta": bundles.bundle_delta,
}


# ---------------------------------------------------------------------- relay (row 11)

# Row 11: RELAY_HOSTS local hosts, an image of RELAY_MB MB in 4 layers (BENCH_RELAY_HOSTS, BENCH_RELAY_MB).
RELAY_HOSTS = int(os.environ.get("BENCH_RELAY_HOSTS") or 20)
RELAY_MB = int(os.environ.get("BENCH_RELAY_MB") or 200)


def relay_image():
    return ImageSpec("bench/relay", f"{RELAY_MB}mb", 4, RELAY_MB * 1000 * 1000 // 4, 40000)


def relay_size():
    return f"H={RELAY_HOSTS}"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def relay_contenders(bench, spec, inventory):
    runner = bench.runner
    common = {"repository": spec.repository, "tag": spec.tag}
    relay = {
        "image_fetch_via": "relay",
        "image_fetch_relay_host": host_names(1)[0],
        "image_fetch_relay_address": "127.0.0.1",
    }

    def play(name, per_run=dict):
        """A contender: the playbook ``name`` with the variables ``per_run()`` makes for each run (a port, a cache)."""
        return lambda dest: runner.playbook(name, dict(common, dest=dest, **per_run()), inventory, FLEET_FORKS)

    return {
        "relay": play("image_fetch.yml", lambda: dict(relay, image_fetch_relay_port=free_port())),
        "direct": play("image_fetch.yml"),
        "copy": play("copy_fanout.yml", lambda: {"cache": bench.scratch_dir("relay_cache")}),
    }


def relay(bench, reps):
    """An image to H hosts: relay (one host pulls from S3, serves the others), direct, download once then copy."""
    spec = relay_image()
    pushed = bench.workload.image(spec)
    hosts = host_names(RELAY_HOSTS)
    delivery_network(bench)
    contenders = relay_contenders(bench, spec, write_inventory(bench, RELAY_HOSTS))
    try:
        for rep in range(reps):
            for name in rotated(contenders, rep):
                dest = bench.scratch_dir("relay")
                sample = contenders[name](dest)
                check_layouts(dest, hosts)
                if bytes_under(dest) < len(hosts) * blob_bytes(pushed):
                    raise CommandError(f"{name} wrote {bytes_under(dest)} bytes, fewer than the image on every host")
                shutil.rmtree(dest)
                bench.record("relay", name, relay_size(), sample)
    finally:
        shutil.rmtree(os.path.join(bench.runner.work_dir, "relay"), ignore_errors=True)
        shutil.rmtree(os.path.join(bench.runner.work_dir, "relay_cache"), ignore_errors=True)
        bench.workload.forget(spec)


GROUPS["relay"] = relay
