# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""An image set as asked for, checked before any call, and the names its images get.

Each image of a set is ``{repository, tag | digest, registry_id?, name?}``; every problem of
every entry is reported at once, each with its position (``images[2].tag ...``). An image's
full name defaults to its ECR reference, ``<registry id>.dkr.ecr.<region>.<DNS suffix>/
<repository>:<tag>`` (or ``@<digest>``), the DNS suffix being that of the region's AWS
partition in botocore's data. Runs on the controller only.
"""

import re
from collections import namedtuple

try:
    import botocore.loaders
    import botocore.regions
    from botocore.exceptions import BotoCoreError
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible_collections.airgap.ecr.plugins.module_utils.validation import ValidationError
from ansible_collections.airgap.ecr.plugins.module_utils.validation import validate_digest
from ansible_collections.airgap.ecr.plugins.module_utils.validation import validate_image_tag
from ansible_collections.airgap.ecr.plugins.module_utils.validation import validate_registry_id
from ansible_collections.airgap.ecr.plugins.module_utils.validation import validate_repository

ImageSpec = namedtuple("ImageSpec", "position repository tag digest registry_id name")
ImageSpec.__doc__ = """One checked image of a set: its position in the input, and exactly one of tag and digest."""

IMAGE_KEYS = ("repository", "tag", "digest", "registry_id", "name")
# The suboptions of ecr_image_layers' ``images``: all checked by validate_image_set, for messages with positions.
IMAGE_SPEC = {key: {"type": "str"} for key in IMAGE_KEYS}

# An image reference as container tools read it: [host[:port]/]path[:tag] or [host[:port]/]path@digest.
_HOST_PART = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY_RE = re.compile(rf"(?:{_HOST_PART}(?:\.{_HOST_PART})*(?::[0-9]+)?/)?{_PATH_PART}(?:/{_PATH_PART})*")
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
NAME_MAX = 255


def split_name(name):
    """``name`` -> ``(repository part, tag or None, digest or None)``, without checking them."""
    if "@" in name:
        repository, digest = name.split("@", 1)
        return repository, None, digest
    head, slash, last = name.rpartition("/")
    if ":" in last:
        last, tag = last.split(":", 1)
        return head + slash + last, tag, None
    return name, None, None


def validate_image_name(name, option="name"):
    """Return ``name`` if it is an image reference, ``name[:tag]`` or ``name@digest``; else ValidationError."""
    expected = (
        "expected an image reference, name[:tag] or name@digest, for example '<registry host>/team/app:1.4.2' "
        "(lowercase path components separated by '/', an optional host[:port] first)"
    )
    if not isinstance(name, str) or not name:
        raise ValidationError(f"{option} {name!r} is not an image name: {expected}")
    repository, tag, digest = split_name(name)
    if len(repository) > NAME_MAX or not _REPOSITORY_RE.fullmatch(repository):
        raise ValidationError(f"{option} {name!r} is not an image name: {expected}")
    if tag is not None and not _TAG_RE.fullmatch(tag):
        raise ValidationError(
            f"{option} {name!r} has the tag {tag!r}: a tag is 1 to 128 letters, digits, '_', '.' or '-', not "
            "starting with '.' or '-'"
        )
    if digest is not None:
        try:
            validate_digest(digest)
        except ValidationError as e:
            raise ValidationError(f"{option} {name!r} has an invalid digest: {e}") from None
    return name


def _entry(entry, where, default_registry_id):
    """One entry checked: ``(values, problems)``."""
    if not isinstance(entry, dict):
        return None, [f"{where} must be a dictionary with repository and tag or digest, got {entry!r}"]
    problems = [
        f"{where}.{key} is not an option of an image (expected {', '.join(IMAGE_KEYS)})"
        for key in entry
        if key not in IMAGE_KEYS
    ]
    values = {}
    checks = (
        ("repository", validate_repository),
        ("tag", lambda value: validate_image_tag(value, "tag")),
        ("digest", lambda value: validate_digest(value, "digest")),
        ("registry_id", validate_registry_id),
        ("name", lambda value: validate_image_name(value, "name")),
    )
    if entry.get("repository") is None:
        problems.append(f"{where}.repository is required: the name of the image's ECR repository")
    for key, check in checks:
        value = entry.get(key)
        if value is None:
            continue
        try:
            values[key] = check(value)
        except ValidationError as e:
            problems.append(f"{where}.{e}")
    if (entry.get("tag") is None) == (entry.get("digest") is None):
        problems.append(
            f"{where} must have exactly one of tag and digest, it has {'both' if entry.get('tag') else 'neither'}"
        )
    values.setdefault("registry_id", default_registry_id)
    return values, problems


def validate_image_set(entries, default_registry_id=None, option="images"):
    """``entries`` (a module's ``images``) checked: a list of ImageSpec, or one ValidationError naming every problem.

    ``default_registry_id`` (already checked) applies to the entries without ``registry_id``.
    """
    if not isinstance(entries, list) or not entries:
        raise ValidationError(
            f"{option} must be a non-empty list of images ({{repository, tag | digest}}), got {entries!r}"
        )
    specs, problems = [], []
    for position, entry in enumerate(entries):
        values, found = _entry(entry, f"{option}[{position}]", default_registry_id)
        problems.extend(found)
        if not found:
            specs.append(
                ImageSpec(
                    position,
                    values["repository"],
                    values.get("tag"),
                    values.get("digest"),
                    values["registry_id"],
                    values.get("name"),
                )
            )
    if problems:
        raise ValidationError("; ".join(problems))
    return specs


def dns_suffix(region, loader=None):
    """The DNS suffix of the AWS partition of ``region`` (botocore's endpoint data); else ValidationError.

    ``loader``: a botocore data loader that may have read the endpoint data already (an ECR client's), which
    then is not read and parsed again; by default a new one.
    """
    try:
        loader = loader or botocore.loaders.create_loader()
        resolver = botocore.regions.EndpointResolver(loader.load_data("endpoints"))
        return resolver.get_partition_dns_suffix(resolver.get_partition_for_region(region))
    except (BotoCoreError, TypeError, KeyError) as e:
        raise ValidationError(
            f"region {region!r} is in no AWS partition that botocore knows ({e}), so the images' ECR names cannot be "
            "built: give every image a name, or a known region"
        ) from None


def full_name(registry_id, region, suffix, repository, tag=None, digest=None):
    """The image's ECR reference: ``<registry id>.dkr.ecr.<region>.<suffix>/<repository>:<tag>`` (or ``@<digest>``)."""
    reference = f"@{digest}" if digest else f":{tag}"
    return f"{registry_id}.dkr.ecr.{region}.{suffix}/{repository}{reference}"


def digest_name(name, manifest_digest):
    """``name`` pinned to ``manifest_digest``: its repository part, ``@``, the digest."""
    return f"{split_name(name)[0]}@{manifest_digest}"
