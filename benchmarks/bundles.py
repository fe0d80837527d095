# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Row 8: a bundle of an image, then a delta bundle after one of its layers changed (airgap.ecr.bundle_create).

The delta must be about the size of the changed layer: it holds that layer, the image's new config and
the manifests, and nothing its base holds. Its bytes on disk (every file of the bundle directory) over
the layer's bytes is target T10.
"""

import os
import shutil

from runners import CommandError
from workload import ECR_OPERATIONS
from workload import REGION
from workload import set_latency
from workload import stored_layer

from ansible_collections.airgap.ecr.tests.emulator import images

REPOSITORY = "bench/bundle"
LAYERS = 5
LAYER_SIZE = 4 * 1000 * 1000
CHANGED_SIZE = 16 * 1000 * 1000
SEED = 50000
SIZE = "delta"
CONTENDERS = (
    ("full", "bundle_create, whole image"),
    ("delta", "bundle_create, bundle_since: one changed layer"),
)


def push_versions(bench):
    """``bench/bundle:1`` and ``:2``, the same but for the last layer; the changed layer's size."""
    client = bench.workload.ecr()
    common = [stored_layer(LAYER_SIZE, SEED + index) for index in range(LAYERS)]
    versions = {
        "1": common + [stored_layer(CHANGED_SIZE, SEED + 90)],
        "2": common + [stored_layer(CHANGED_SIZE, SEED + 91)],
    }
    for tag, layers in versions.items():
        images.push_image(client, REPOSITORY, tag, layers, images.make_config(layers), chunk_size=16 * 1024 * 1024)
    bench.workload.emulator.clear_requests()
    return len(versions["2"][-1])


def bytes_under(path):
    return sum(os.path.getsize(os.path.join(folder, name)) for folder, _dirs, names in os.walk(path) for name in names)


def create(bench, tag, dest, since=None):
    """One measured run of the bundle_create playbook; the sample has the bundle's bytes on disk."""
    runner = bench.runner
    variables = {
        "bundle_images": [{"repository": REPOSITORY, "tag": tag}],
        "bundle_dest": dest,
        "aws_region": REGION,
        "aws_endpoint_url": bench.workload.endpoint,
        "allow_http": True,
    }
    if since:
        variables["bundle_since"] = since
    command = ["ansible-playbook", "-i", "localhost,", "-c", "local", "airgap.ecr.bundle_create"]
    sample = runner.measure(command + ["-e", "@" + runner.write_json("bundle-vars.json", variables)])
    sample["bundle_bytes"] = bytes_under(dest)
    return sample


def bundle_delta(bench, reps):
    """A bundle of bench/bundle:1, then a delta of :2 on top of it, each rep in a fresh directory."""
    set_latency(bench.workload.emulator, bench.latency_ms, ECR_OPERATIONS)
    layer_bytes = push_versions(bench)
    for _rep in range(reps):
        work = bench.scratch_dir("bundle")
        full = create(bench, "1", os.path.join(work, "b1"))
        delta = create(bench, "2", os.path.join(work, "b2"), since=os.path.join(work, "b1"))
        shutil.rmtree(work)
        if delta["bundle_bytes"] < layer_bytes:
            raise CommandError(f"the delta bundle holds {delta['bundle_bytes']} bytes, less than the changed layer")
        delta["layer_bytes"] = full["layer_bytes"] = layer_bytes
        bench.record("bundle_delta", "full", SIZE, full)
        bench.record("bundle_delta", "delta", SIZE, delta)


def delta_ratio(results):
    """Median bytes of the delta bundle over the changed layer's bytes, or None."""
    delta = results.median("bundle_delta", "delta", SIZE, field="bundle_bytes")
    layer = results.median("bundle_delta", "delta", SIZE, field="layer_bytes")
    return delta / layer if delta and layer else None


def section_label(results):
    full = results.median("bundle_delta", "full", SIZE, field="bundle_bytes")
    delta = results.median("bundle_delta", "delta", SIZE, field="bundle_bytes")
    sizes = f"; bundles {full / 1e6:.2f} MB and {delta / 1e6:.2f} MB on disk" if full and delta else ""
    return (
        f"Row 8: bundle_create, {LAYERS} layers of {LAYER_SIZE // 10**6} MB and one of {CHANGED_SIZE // 10**6} MB, "
        f"then a delta after that layer changed{sizes}; ratio = row / whole image"
    )
