"""Check one host's layout against the pushed set: check_layout.py SET_JSON LAYOUT PLATFORM [OTHER_PLATFORM...].

Each image has its entry in index.json (ref name, full name, source annotations), ECR's exact manifest bytes are
a blob under ECR's digest, every blob of the set is there once, and nothing else is: nothing but the config and
layers of the set for each OTHER_PLATFORM too (a relay host holds the blobs of every platform of the batch).
Prints the number of distinct configs and layers the layout must hold (for PLATFORM and each OTHER_PLATFORM).
"""

import hashlib
import json
import os
import sys

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def chosen(image, platform):
    """The pushed image's manifest for ``platform``: (manifest text, config digest, layer digests)."""
    if "manifests" in image:
        child = next(m for m in image["manifests"] if m["platform"] == platform)
        return child["manifest"], child["config_digest"], child["layer_digests"]
    return image["manifest"], image["config_digest"], image["layer_digests"]


def main(set_json, layout, platform, *others):
    pushed = json.load(open(set_json, encoding="utf-8"))["pushed_images"]
    index = json.load(open(os.path.join(layout, "index.json"), encoding="utf-8"))
    entries = index["manifests"]
    assert len(entries) == 3, entries
    refs = ["app-1", "worker", "multi-1"]
    names = [f"/{pushed[0]['repository']}:app-1", f"/{pushed[1]['repository']}:worker-1"]
    blobs, manifests = set(), set()
    for position, (entry, image) in enumerate(zip(entries, pushed, strict=True)):
        notes = entry["annotations"]
        assert notes["org.opencontainers.image.ref.name"] == refs[position], notes
        name = notes["io.containerd.image.name"]
        assert name.endswith(names[position]) if position < 2 else name == "registry.airgap.test:5000/mirror/multi:1"
        text, config, layers = chosen(image, platform)
        source = sha(text.encode())
        assert notes["io.github.airgap-ecr.source.digest"] == source, (notes, source)
        with open(os.path.join(layout, "blobs", "sha256", source[7:]), "rb") as handle:
            assert handle.read() == text.encode(), f"the layout does not hold ECR's exact manifest of {name}"
        assert entry["mediaType"] == OCI_MANIFEST
        assert (entry["digest"] != source) == (image["kind"] == "docker"), (entry, image["kind"])
        manifests |= {source, entry["digest"]}
        blobs |= {config, *layers}
    for other in others:
        for image in pushed:
            _text, config, layers = chosen(image, other)
            blobs |= {config, *layers}
    on_disk = {"sha256:" + name for name in os.listdir(os.path.join(layout, "blobs", "sha256"))}
    assert on_disk == blobs | manifests, (sorted(on_disk - blobs - manifests), sorted(blobs | manifests - on_disk))
    assert not [name for _d, _s, files in os.walk(layout) for name in files if name.startswith(".")]
    print(len(blobs))


if __name__ == "__main__":
    main(*sys.argv[1:])
