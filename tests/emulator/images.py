# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deterministic container images, and pushing them to an ECR API the way a client does.

Used by the emulator's ``--seed-demo``, by its tests and by benchmarks. Everything here
is deterministic: the same arguments give the same bytes, hence the same digests, on
every run.

Pushing goes through an ordinary boto3 ECR client: BatchCheckLayerAvailability, then
InitiateLayerUpload / UploadLayerPart (in chunks) / CompleteLayerUpload for each blob
that is missing, then PutImage with the exact manifest bytes.
"""

import gzip
import hashlib
import io
import json
import random
import tarfile

from botocore.exceptions import ClientError

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"

INDEX_MEDIA_TYPES = (DOCKER_MANIFEST_LIST, OCI_INDEX)
IMAGE_MEDIA_TYPES = (DOCKER_MANIFEST, OCI_MANIFEST)

FLAVOURS = {
    "docker": {
        "manifest": DOCKER_MANIFEST,
        "config": DOCKER_CONFIG,
        "layer": DOCKER_LAYER,
        "index": DOCKER_MANIFEST_LIST,
    },
    "oci": {"manifest": OCI_MANIFEST, "config": OCI_CONFIG, "layer": OCI_LAYER, "index": OCI_INDEX},
}

# Chunk size for UploadLayerPart. Real ECR wants parts of at least 5 MiB (except the
# last); the emulator does not insist, and 1 MiB makes the demo image use several parts.
DEFAULT_CHUNK_SIZE = 1024 * 1024

# Fixed timestamp for every tar member and image config, so that bytes never change.
EPOCH = 1700000000
CREATED = "2023-11-14T22:13:20Z"

DEMO_REPOSITORY = "airgap/demo"
DEMO_TAG = "1.0"
DEMO_MULTI_TAG = "multi"
# The platforms of airgap/demo:multi, in index order.
DEMO_MULTI_PLATFORMS = (
    {"os": "linux", "architecture": "amd64"},
    {"os": "linux", "architecture": "arm64", "variant": "v8"},
)


def sha256_digest(data):
    """Return the OCI digest string (``sha256:<hex>``) of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def pseudo_random_bytes(size, seed):
    """Incompressible, deterministic bytes."""
    return random.Random(f"airgap-ecr-layer-{seed}").randbytes(size)


def make_tar(files):
    """Return an uncompressed, reproducible tar archive of ``files`` (a mapping path -> bytes)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        directories = set()
        for path in files:
            parts = path.strip("/").split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                directories.add("/".join(parts[:depth]))
        for directory in sorted(directories):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            info.mtime = EPOCH
            tar.addfile(info)
        for path in sorted(files):
            content = files[path]
            info = tarfile.TarInfo(path.strip("/"))
            info.size = len(content)
            info.mode = 0o644
            info.mtime = EPOCH
            tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def gzip_bytes(data):
    """Reproducible gzip (no file name, fixed mtime)."""
    return gzip.compress(data, compresslevel=1, mtime=0)


def make_layer(size, seed, files=None, extra_files=None):
    """Return a deterministic gzip'ed tar layer.

    ``size`` bytes of incompressible pseudo-random content derived from ``seed`` are
    split evenly among ``files`` (paths inside the tar; default one file
    ``layer-<seed>/data.bin``). ``extra_files`` (path -> bytes) adds fixed content.
    """
    names = list(files) if files else [f"layer-{seed}/data.bin"]
    content = pseudo_random_bytes(size, seed)
    share, rest = divmod(size, len(names))
    members = {}
    offset = 0
    for index, name in enumerate(names):
        length = share + (1 if index < rest else 0)
        members[name] = content[offset : offset + length]
        offset += length
    members.update(extra_files or {})
    return gzip_bytes(make_tar(members))


def diff_id(layer):
    """The uncompressed digest of a gzip'ed layer, as listed in an image config's rootfs."""
    return sha256_digest(gzip.decompress(layer))


def make_config(layers, os="linux", arch="amd64", variant=None, env=None, cmd=None):
    """Return a deterministic image config (JSON bytes) for ``layers`` (gzip'ed tars)."""
    config = {
        "architecture": arch,
        "os": os,
        "created": CREATED,
        "config": {
            "Env": list(env) if env else ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": list(cmd) if cmd else ["/bin/sh"],
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id(layer) for layer in layers]},
        "history": [
            {"created": CREATED, "created_by": f"airgap.ecr test layer {index}"} for index in range(len(layers))
        ],
    }
    if variant:
        config["variant"] = variant
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode("utf-8")


def descriptor(data, media_type):
    return {"mediaType": media_type, "size": len(data), "digest": sha256_digest(data)}


def make_manifest(layers, config, media_type="docker"):
    """Return (manifest bytes, manifest media type) for an image made of ``layers`` and ``config``."""
    flavour = FLAVOURS[media_type]
    manifest = {
        "schemaVersion": 2,
        "mediaType": flavour["manifest"],
        "config": descriptor(config, flavour["config"]),
        "layers": [descriptor(layer, flavour["layer"]) for layer in layers],
    }
    # Docker writes its manifests indented by three spaces; OCI ones here are compact.
    # Either way the digest is the sha256 of exactly these bytes.
    if media_type == "docker":
        text = json.dumps(manifest, indent=3)
    else:
        text = json.dumps(manifest, separators=(",", ":"))
    return text.encode("utf-8"), flavour["manifest"]


def make_index(manifests, media_type="oci"):
    """Return (index bytes, media type) for a multi-platform OCI index or Docker manifest list.

    ``manifests`` is a list of dicts with ``digest``, ``size``, ``media_type`` and
    optionally ``platform`` ({"os", "architecture", "variant"?}), e.g. the dicts
    :func:`push_image` returns (with a ``platform`` added).
    """
    flavour = FLAVOURS[media_type]
    entries = []
    for item in manifests:
        entry = {"mediaType": item["media_type"], "size": item["size"], "digest": item["digest"]}
        if item.get("platform"):
            entry["platform"] = dict(item["platform"])
        entries.append(entry)
    index = {"schemaVersion": 2, "mediaType": flavour["index"], "manifests": entries}
    return json.dumps(index, indent=2).encode("utf-8"), flavour["index"]


def _registry_kwargs(repository, registry_id):
    kwargs = {"repositoryName": repository}
    if registry_id:
        kwargs["registryId"] = registry_id
    return kwargs


def ensure_repository(client, repository, registry_id=None):
    """Create ``repository`` unless it exists."""
    kwargs = {"repositoryNames": [repository]}
    if registry_id:
        kwargs["registryId"] = registry_id
    try:
        client.describe_repositories(**kwargs)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "RepositoryNotFoundException":
            raise
        try:
            client.create_repository(**_registry_kwargs(repository, registry_id))
        except ClientError as create_exc:
            if create_exc.response["Error"]["Code"] != "RepositoryAlreadyExistsException":
                raise


def push_blob(client, repository, data, registry_id=None, chunk_size=DEFAULT_CHUNK_SIZE):
    """Upload ``data`` as a layer/config blob unless the repository already has it; return its digest."""
    digest = sha256_digest(data)
    kwargs = _registry_kwargs(repository, registry_id)
    check = client.batch_check_layer_availability(layerDigests=[digest], **kwargs)
    if any(layer.get("layerAvailability") == "AVAILABLE" for layer in check.get("layers", [])):
        return digest
    upload = client.initiate_layer_upload(**kwargs)
    upload_id = upload["uploadId"]
    step = max(1, min(chunk_size, upload.get("partSize") or chunk_size))
    for first in range(0, len(data), step):
        part = data[first : first + step]
        client.upload_layer_part(
            uploadId=upload_id, partFirstByte=first, partLastByte=first + len(part) - 1, layerPartBlob=part, **kwargs
        )
    try:
        client.complete_layer_upload(uploadId=upload_id, layerDigests=[digest], **kwargs)
    except ClientError as exc:
        # Someone else completed the same blob in between: fine, it is there.
        if exc.response["Error"]["Code"] != "LayerAlreadyExistsException":
            raise
    return digest


def push_manifest(client, repository, tag, manifest, media_type, registry_id=None):
    """PutImage ``manifest`` (bytes or str, sent exactly as given) with ``tag`` (None: untagged).

    Returns ``{"image_digest", "manifest", "media_type", "size"}``.
    """
    text = manifest.decode("utf-8") if isinstance(manifest, bytes) else manifest
    kwargs = _registry_kwargs(repository, registry_id)
    kwargs.update(imageManifest=text, imageManifestMediaType=media_type)
    if tag is not None:
        kwargs["imageTag"] = tag
    response = client.put_image(**kwargs)
    return {
        "image_digest": response["image"]["imageId"]["imageDigest"],
        "manifest": text,
        "media_type": media_type,
        "size": len(text.encode("utf-8")),
    }


def push_image(
    client, repository, tag, layers, config, media_type="docker", registry_id=None, chunk_size=DEFAULT_CHUNK_SIZE
):
    """Push an image made of ``layers`` (gzip'ed tars) and ``config`` (bytes) as ``repository:tag``.

    ``media_type`` is ``"docker"`` (Docker v2 schema 2) or ``"oci"``. The repository is
    created if needed. Returns ``{"image_digest", "manifest" (str), "media_type", "size",
    "config": {"digest", "size", "media_type"}, "layers": [{"digest", "size", "media_type"}]}``.
    """
    ensure_repository(client, repository, registry_id)
    flavour = FLAVOURS[media_type]
    for blob in list(layers) + [config]:
        push_blob(client, repository, blob, registry_id=registry_id, chunk_size=chunk_size)
    manifest, manifest_type = make_manifest(layers, config, media_type)
    result = push_manifest(client, repository, tag, manifest, manifest_type, registry_id=registry_id)
    result["config"] = {"digest": sha256_digest(config), "size": len(config), "media_type": flavour["config"]}
    result["layers"] = [
        {"digest": sha256_digest(layer), "size": len(layer), "media_type": flavour["layer"]} for layer in layers
    ]
    return result


def demo_blobs():
    """The demo image's (layers, config): three layers of about 32 KiB, 1 MiB and 4 MiB."""
    layers = [
        make_layer(
            32 * 1024, 1, files=["etc/airgap-demo/small.bin"], extra_files={"etc/airgap-demo/VERSION": b"1.0\n"}
        ),
        make_layer(1024 * 1024, 2, files=["opt/airgap-demo/lib/medium-a.bin", "opt/airgap-demo/lib/medium-b.bin"]),
        make_layer(4 * 1024 * 1024, 3, files=["opt/airgap-demo/data/large.bin"]),
    ]
    return layers, make_config(layers, os="linux", arch="amd64", cmd=["/opt/airgap-demo/run"])


def push_demo(client):
    """Push ``airgap/demo:1.0`` (Docker v2 schema 2); return what :func:`push_image` returns."""
    layers, config = demo_blobs()
    return push_image(client, DEMO_REPOSITORY, DEMO_TAG, layers, config, media_type="docker")


def demo_multi_blobs():
    """The images of ``airgap/demo:multi``: ``[(platform, layers, config)]`` in index order.

    Each platform has its own config and two small layers (8 KiB and 16 KiB of content), none
    shared with ``airgap/demo:1.0`` or with the other platform.
    """
    result = []
    for number, platform in enumerate(DEMO_MULTI_PLATFORMS):
        name = "-".join(platform[key] for key in ("os", "architecture", "variant") if platform.get(key))
        seed = 100 + 10 * number
        layers = [
            make_layer(
                8 * 1024,
                seed + 1,
                files=[f"etc/airgap-demo/{name}.bin"],
                extra_files={"etc/airgap-demo/PLATFORM": f"{name}\n".encode()},
            ),
            make_layer(16 * 1024, seed + 2, files=[f"opt/airgap-demo/{name}/data.bin"]),
        ]
        config = make_config(
            layers,
            os=platform["os"],
            arch=platform["architecture"],
            variant=platform.get("variant"),
            cmd=["/opt/airgap-demo/run"],
        )
        result.append((platform, layers, config))
    return result


def push_demo_multi(client):
    """Push ``airgap/demo:multi``: an OCI image index for linux/amd64 and linux/arm64/v8.

    The two OCI images are pushed untagged (by digest) first, then the index under the tag.
    Returns what :func:`push_manifest` returns for the index, plus ``"manifests"``: for each
    platform what :func:`push_image` returns, plus ``"digest"`` and ``"platform"``.
    """
    children = []
    for platform, layers, config in demo_multi_blobs():
        child = push_image(client, DEMO_REPOSITORY, None, layers, config, media_type="oci")
        child["digest"] = child["image_digest"]
        child["platform"] = dict(platform)
        children.append(child)
    index, media_type = make_index(children, "oci")
    result = push_manifest(client, DEMO_REPOSITORY, DEMO_MULTI_TAG, index, media_type)
    result["manifests"] = children
    return result
