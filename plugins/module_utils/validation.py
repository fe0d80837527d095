# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Validation of ECR names and digests, before any request is made.

The rules are those of the ECR API model (botocore's ``ecr`` service definition):
``RepositoryName`` is 2 to 256 characters of lowercase path components, ``RegistryId`` is
an AWS account id of 12 digits, and a ``LayerDigest`` is ``algorithm:hex``. On top of the
model's loose digest pattern we apply the OCI image specification's rules for the two
registered algorithms, so that a typo is caught here rather than by ECR: sha256 is 64
lowercase hex characters and sha512 is 128.
"""

import re

REPOSITORY_NAME_MIN = 2
REPOSITORY_NAME_MAX = 256
# The ECR API model's RepositoryName pattern. Every pattern here is applied with fullmatch:
# "$" would also accept a trailing newline.
REPOSITORY_NAME_RE = re.compile(r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$")
REGISTRY_ID_RE = re.compile(r"^[0-9]{12}$")
# The ECR API model's LayerDigest pattern, anchored.
DIGEST_RE = re.compile(r"^[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+$")
DIGEST_HEX_LENGTHS = {"sha256": 64, "sha512": 128}
LOWER_HEX_RE = re.compile(r"^[a-f0-9]+$")
# ECR's ImageTag is 1 to 300 characters; the characters are those of an OCI/Docker tag.
IMAGE_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,299}$")


class ValidationError(ValueError):
    """Input that ECR would reject; the message names the value and the rule."""


def validate_repository(name):
    """Return ``name`` if it is a valid ECR repository name, else raise ValidationError."""
    if not isinstance(name, str):
        raise ValidationError(f"repository must be a string, got {name!r}")
    if not REPOSITORY_NAME_MIN <= len(name) <= REPOSITORY_NAME_MAX:
        raise ValidationError(
            f"repository {name!r} is {len(name)} characters long; ECR repository names are "
            f"{REPOSITORY_NAME_MIN} to {REPOSITORY_NAME_MAX} characters"
        )
    if not REPOSITORY_NAME_RE.fullmatch(name):
        raise ValidationError(
            f"repository {name!r} is not a valid ECR repository name: use lowercase letters and digits, "
            "separated by '.', '_', '__' or '-' within a component and by '/' between components "
            "(for example 'team/app'); do not include the registry host or a ':tag'"
        )
    return name


def validate_registry_id(registry_id):
    """Return ``registry_id`` (or None) if it is a 12-digit account id, else raise ValidationError."""
    if registry_id is None:
        return None
    if not isinstance(registry_id, str) or not REGISTRY_ID_RE.fullmatch(registry_id):
        raise ValidationError(
            f"registry_id {registry_id!r} is not a registry id: it must be the 12-digit AWS account id "
            "that owns the registry, for example '123456789012' (quote it in YAML so it stays a string)"
        )
    return registry_id


def validate_digest(digest, option="digest"):
    """Return ``digest`` if it is a well-formed content digest, else raise ValidationError."""
    if not isinstance(digest, str):
        raise ValidationError(f"{option} must be a string of the form 'sha256:<64 hex>', got {digest!r}")
    if not DIGEST_RE.fullmatch(digest):
        raise ValidationError(
            f"{option} {digest!r} is not a digest: expected 'algorithm:hex', for example 'sha256:' followed by "
            "64 lowercase hexadecimal characters"
        )
    algorithm, encoded = digest.split(":", 1)
    expected_length = DIGEST_HEX_LENGTHS.get(algorithm)
    if expected_length is None:
        raise ValidationError(
            f"{option} {digest!r} uses the algorithm {algorithm!r}; supported algorithms are "
            + ", ".join(sorted(DIGEST_HEX_LENGTHS))
        )
    if len(encoded) != expected_length or not LOWER_HEX_RE.fullmatch(encoded):
        raise ValidationError(
            f"{option} {digest!r} is not a valid {algorithm} digest: after '{algorithm}:' it must have exactly "
            f"{expected_length} lowercase hexadecimal characters (it has {len(encoded)})"
        )
    return digest


def validate_image_tag(tag, option="image_tag"):
    """Return ``tag`` if it is a valid image tag, else raise ValidationError."""
    if not isinstance(tag, str) or not IMAGE_TAG_RE.fullmatch(tag):
        raise ValidationError(
            f"{option} {tag!r} is not a valid tag: 1 to 300 letters, digits, '_', '.' or '-', not starting with "
            "'.' or '-' (give the tag alone, without the repository or a digest)"
        )
    return tag


def validate_concurrency(value, maximum):
    """Return ``value`` if it is an int between 1 and ``maximum``, else raise ValidationError.

    Each side has its own bound: ecr_request.MAX_CONCURRENCY for the controller's ECR calls,
    the downloader's for the target hosts.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise ValidationError(f"concurrency {value!r} is out of range: it must be an integer from 1 to {maximum}")
    return value


def unique_digests(digests, option="digests"):
    """Validate every digest and return them in input order without duplicates.

    All invalid entries are reported together, with their positions.
    """
    if not digests:
        raise ValidationError(f"{option} is empty: give at least one layer digest")
    problems = []
    seen = {}
    for index, digest in enumerate(digests):
        try:
            validate_digest(digest, option=f"{option}[{index}]")
        except ValidationError as e:
            problems.append(str(e))
            continue
        seen.setdefault(digest, None)
    if problems:
        raise ValidationError("; ".join(problems))
    return list(seen)
