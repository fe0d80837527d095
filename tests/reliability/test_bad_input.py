# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Bad input, generated: every invalid value or combination fails with a message naming it, and no request is made.

Whether a generated value is invalid is decided here, independently of the collection's
code: by the ECR API model that botocore ships (repository names, registry ids), the OCI
image specification (digests of the two registered algorithms; tags) and the platform
syntax ``os/architecture[/variant]``. Every case runs through the module's real entry point
(or the lookup's ``run()``) with the emulator as endpoint, whose request log must stay empty.
"""

import json
import os
import re
import string
import time
from collections import Counter

import botocore.session
from hypothesis import HealthCheck
from hypothesis import Phase
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from ansible.errors import AnsibleError
from ansible.plugins.loader import lookup_loader
from ansible_collections.amazon.aws.plugins.module_utils.modules import aws_argument_spec

from ansible_collections.airgap.ecr.plugins.modules import blob_fetch
from ansible_collections.airgap.ecr.plugins.modules import ecr_image_layers
from ansible_collections.airgap.ecr.plugins.modules import ecr_layer_url
from ansible_collections.airgap.ecr.plugins.modules import oci_layout
from ansible_collections.airgap.ecr.tests.reliability.conftest import STRESS
from ansible_collections.airgap.ecr.tests.reliability.conftest import aws_args
from ansible_collections.airgap.ecr.tests.reliability.conftest import run_module
from ansible_collections.airgap.ecr.tests.reliability.conftest import scaled

EXAMPLES = scaled(600, 6000)
MODULES = {
    "ecr_layer_url": ecr_layer_url.main,
    "ecr_image_layers": ecr_image_layers.main,
    "blob_fetch": blob_fetch.main,
    "oci_layout": oci_layout.main,
}
# Modules that download on the target host: their cases get a dest of their own and the emulator's URL.
DOWNLOADERS = ("blob_fetch", "oci_layout")

# --------------------------------------------------------------------------- the oracle

_MODEL = botocore.session.get_session().get_service_model("ecr")
_REPOSITORY = _MODEL.shape_for("RepositoryName").metadata
_REGISTRY_ID = _MODEL.shape_for("RegistryId").metadata
_DIGEST_LENGTHS = {"sha256": 64, "sha512": 128}
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,299}")
_PLATFORM_PART = re.compile(r"[a-z0-9][a-z0-9._-]*")


def valid_repository(value):
    return (
        _REPOSITORY["min"] <= len(value) <= _REPOSITORY["max"]
        and re.fullmatch(_REPOSITORY["pattern"], value) is not None
    )


def valid_registry_id(value):
    return re.fullmatch(_REGISTRY_ID["pattern"], value) is not None


def valid_digest(value):
    algorithm, _colon, encoded = value.partition(":")
    return len(encoded) == _DIGEST_LENGTHS.get(algorithm, -1) and all(char in "0123456789abcdef" for char in encoded)


def valid_tag(value):
    return _TAG.fullmatch(value) is not None


def valid_platform(value):
    parts = value.split("/")
    return len(parts) in (2, 3) and all(_PLATFORM_PART.fullmatch(part) for part in parts)


# --------------------------------------------------------------------------- strategies

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)
ASCII = st.text(string.printable, max_size=80)
LOWER = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
HEX64 = st.text("0123456789abcdef", min_size=64, max_size=64)
GOOD_REPOSITORY = st.builds(
    "/".join, st.lists(st.builds("-".join, st.lists(LOWER, min_size=1, max_size=3)), min_size=1, max_size=3)
).filter(valid_repository)
GOOD_DIGEST = st.builds("sha256:{}".format, HEX64)
GOOD_REGISTRY_ID = st.one_of(st.none(), st.text("0123456789", min_size=12, max_size=12))


def invalid(strategy, oracle):
    return strategy.filter(lambda value: not oracle(value))


BAD_REPOSITORY = st.one_of(
    invalid(TEXT, valid_repository),
    invalid(ASCII, valid_repository),
    st.builds(
        "{}{}".format,
        GOOD_REPOSITORY,
        st.sampled_from([":latest", ":1.0", "@sha256:" + "a" * 64, "/", "-", "//x", " "]),
    ),
    st.builds(
        "{}.{}:{}/{}".format, LOWER, LOWER, st.integers(1, 65535), GOOD_REPOSITORY
    ),  # a registry host before the name
    st.builds(lambda name, index: name[:index] + name[index:].upper(), GOOD_REPOSITORY, st.integers(0, 5)).filter(
        lambda value: not valid_repository(value)
    ),
    st.builds(lambda char, count: char * count, st.sampled_from("abc0"), st.integers(257, 400)),
    st.sampled_from(["a", "", "A", "-a", "a-", "a//b", "a_/b", "team/App", "team app"]),
    st.builds("{}\n".format, GOOD_REPOSITORY),
)
BAD_DIGEST = st.one_of(
    invalid(TEXT, valid_digest),
    invalid(ASCII, valid_digest),
    st.builds("sha256:{}".format, st.text("0123456789abcdef", max_size=130)).filter(
        lambda value: not valid_digest(value)
    ),
    st.builds("sha256:{}".format, HEX64.map(str.upper)).filter(lambda value: not valid_digest(value)),
    st.builds("{}:{}".format, st.sampled_from(["md5", "sha1", "SHA256", "sha384", "blake3", "sha-256"]), HEX64),
    st.builds("sha512:{}".format, HEX64),
    HEX64,
    st.builds(" {} ".format, GOOD_DIGEST),
    st.builds("{}\n".format, GOOD_DIGEST.map(lambda digest: digest[:-1])),
    st.builds("{}:{}".format, GOOD_DIGEST, LOWER),
)
BAD_REGISTRY_ID = st.one_of(
    invalid(TEXT, valid_registry_id),
    st.text("0123456789", max_size=20).filter(lambda value: not valid_registry_id(value)),
    st.builds(" {}".format, st.text("0123456789", min_size=12, max_size=12)),
    st.integers(0, 10**11 - 1).map(str),
    st.builds("{}\n".format, st.text("0123456789", min_size=12, max_size=12)),
)
BAD_PLATFORM = st.one_of(
    invalid(TEXT, valid_platform),
    invalid(st.builds("/".join, st.lists(ASCII, max_size=5)), valid_platform),
    st.sampled_from(
        [
            "linux",
            "linux/",
            "/amd64",
            "Linux/amd64",
            "linux/amd64/v8/extra",
            "linux amd64",
            "linux/arm64/",
            "linux/amd64\n",
        ]
    ),
)
BAD_TAG = st.one_of(
    invalid(TEXT, valid_tag), st.sampled_from([".hidden", "-dash", "a" * 301, "1.0:extra", "tag@sha256", "1.0\n"])
)
BAD_CONCURRENCY = st.one_of(st.integers(max_value=0), st.integers(min_value=65))


def case(module, args, *expected, category):
    return {"module": module, "args": args, "expected": expected, "category": category}


@st.composite
def ecr_layer_url_cases(draw, kind):
    repository, digest, registry_id = draw(GOOD_REPOSITORY), draw(GOOD_DIGEST), draw(GOOD_REGISTRY_ID)
    args = {"repository": repository, "digest": digest, "registry_id": registry_id}
    if kind == "repository":
        args["repository"] = value = draw(BAD_REPOSITORY)
        return case("ecr_layer_url", args, f"repository {value!r}", category="repository")
    if kind == "digest":
        args["digest"] = value = draw(BAD_DIGEST)
        return case("ecr_layer_url", args, f"digest {value!r}", category="digest")
    if kind == "digests":
        entries = draw(
            st.lists(st.one_of(GOOD_DIGEST, BAD_DIGEST), min_size=1, max_size=10).filter(
                lambda found: not all(map(valid_digest, found))
            )
        )
        args.pop("digest")
        args["digests"] = entries
        named = [f"digests[{index}] {value!r}" for index, value in enumerate(entries) if not valid_digest(value)]
        return case("ecr_layer_url", args, *named, category="digest")
    if kind == "registry_id":
        args["registry_id"] = value = draw(BAD_REGISTRY_ID)
        return case("ecr_layer_url", args, f"registry_id {value!r}", category="registry_id")
    if kind == "concurrency":
        args["concurrency"] = value = draw(BAD_CONCURRENCY)
        return case("ecr_layer_url", args, f"concurrency {value!r} is out of range", category="option combination")
    if kind == "both":
        args["digests"] = [digest]
        return case(
            "ecr_layer_url", args, "parameters are mutually exclusive: digest|digests", category="option combination"
        )
    if kind == "neither":
        args.pop("digest")
        return case(
            "ecr_layer_url", args, "one of the following is required: digest, digests", category="option combination"
        )
    if kind == "empty":
        args.pop("digest")
        args["digests"] = []
        return case("ecr_layer_url", args, "digests is empty", category="option combination")
    name = draw(st.from_regex(r"[a-z][a-z_]{0,15}", fullmatch=True).filter(lambda value: value not in KNOWN_OPTIONS))
    args[name] = draw(ASCII)
    return case("ecr_layer_url", args, "Unsupported parameters for (", name, category="option combination")


@st.composite
def ecr_image_layers_cases(draw, kind):
    args = {
        "repository": draw(GOOD_REPOSITORY),
        "image_tag": draw(st.from_regex(r"[a-z0-9][a-z0-9.-]{0,20}", fullmatch=True)),
    }
    if kind == "repository":
        args["repository"] = value = draw(BAD_REPOSITORY)
        return case("ecr_image_layers", args, f"repository {value!r}", category="repository")
    if kind == "platform":
        args["platform"] = value = draw(BAD_PLATFORM)
        return case(
            "ecr_image_layers",
            args,
            f"platform {value!r} is not of the form os/architecture[/variant]",
            category="platform",
        )
    if kind == "image_tag":
        args["image_tag"] = value = draw(BAD_TAG)
        return case("ecr_image_layers", args, f"image_tag {value!r} is not a valid tag", category="option combination")
    if kind == "image_digest":
        args.pop("image_tag")
        args["image_digest"] = value = draw(BAD_DIGEST)
        return case("ecr_image_layers", args, f"image_digest {value!r}", category="digest")
    if kind == "registry_id":
        args["registry_id"] = value = draw(BAD_REGISTRY_ID)
        return case("ecr_image_layers", args, f"registry_id {value!r}", category="registry_id")
    if kind == "concurrency":
        args["concurrency"] = value = draw(BAD_CONCURRENCY)
        return case("ecr_image_layers", args, f"concurrency {value!r} is out of range", category="option combination")
    if kind == "both":
        args["image_digest"] = draw(GOOD_DIGEST)
        return case(
            "ecr_image_layers",
            args,
            "parameters are mutually exclusive: image_tag|image_digest",
            category="option combination",
        )
    args.pop("image_tag")
    return case(
        "ecr_image_layers",
        args,
        "one of the following is required: image_tag, image_digest",
        category="option combination",
    )


def oci_manifest(config_digest, size):
    """An OCI image manifest whose only blob is a config of that digest and size."""
    config = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": size}
    return json.dumps(
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": config, "layers": []}
    )


def downloader_case(module, good):
    """``case()`` for blob_fetch, or for oci_layout with the same blobs and a manifest that lists the first one."""
    if module == "blob_fetch":
        return case
    extra = {"manifest": oci_manifest(good["digest"], good["size"]), "ref_name": "latest"}
    return lambda dummy, args, *expected, category: case(module, dict(args, **extra), *expected, category=category)


@st.composite
def blob_fetch_cases(draw, kind, module="blob_fetch"):
    """Download requests the target host must refuse before any request (the URLs point at the emulator).

    With ``module="oci_layout"``, the same through oci_layout's ``blobs`` option."""
    url = "{endpoint}/bucket/key?X-Amz-Signature=0123"
    good = {"digest": draw(GOOD_DIGEST), "url": url, "size": draw(st.integers(0, 10**9))}
    args = {"blobs": [dict(good)], "dest": "{dest}"}
    make_case = downloader_case(module, good)
    if kind == "digest":
        args["blobs"][0]["digest"] = value = draw(BAD_DIGEST)
        expected = f"blobs[0].digest {value!r}" if value else "blobs[0] has no digest"
        return make_case("blob_fetch", args, expected, category="digest")
    if kind == "url":
        # Not a substring of the digest: the module masks the URL (a credential) wherever it appears.
        value = draw(
            st.one_of(
                st.builds("{}://{}/x".format, st.sampled_from(["ftp", "file", "s3", "gopher"]), LOWER),
                st.builds("x{}".format, ASCII).filter(lambda text: "://" not in text),
            )
        )
        args["blobs"][0]["url"] = value
        return make_case(
            "blob_fetch",
            args,
            f"blobs[0].url (for {good['digest']}) is not an http:// or https:// URL",
            category="option combination",
        )
    if kind == "size":
        args["blobs"][0]["size"] = value = draw(
            st.one_of(st.integers(max_value=-1), st.sampled_from(["big", "1.5", "-3"]))
        )
        return make_case("blob_fetch", args, f"blobs[0].size {value!r} is not a size", category="option combination")
    if kind == "conflict":
        args["blobs"][0]["layer_digest"] = draw(GOOD_DIGEST.filter(lambda value: value != good["digest"]))
        return make_case(
            "blob_fetch", args, "blobs[0] has both digest and layer_digest, with different values", category="digest"
        )
    if kind == "no_url":
        args["blobs"].append({"digest": draw(GOOD_DIGEST.filter(lambda value: value != good["digest"]))})
        return make_case(
            "blob_fetch", args, "blobs[1] (", ") has no url, and is not present in dest", category="option combination"
        )
    if kind == "not_a_dict":
        args["blobs"] = [draw(ASCII.filter(lambda text: "=" not in text and not text.lstrip().startswith("{")))]
        # Ansible's own check of the entry against the option's suboptions answers first.
        return make_case(
            "blob_fetch", args, "dictionary requested, could not parse JSON or key=value", category="option combination"
        )
    if kind == "empty":
        args["blobs"] = []
        return make_case("blob_fetch", args, "blobs is empty", category="option combination")
    if kind == "concurrency":
        args["concurrency"] = value = draw(st.one_of(st.integers(max_value=0), st.integers(min_value=33)))
        return make_case("blob_fetch", args, f"concurrency {value!r} is out of range", category="option combination")
    if kind == "retries":
        args["retries"] = value = draw(st.one_of(st.integers(max_value=-1), st.integers(min_value=11)))
        return make_case("blob_fetch", args, f"retries {value!r} is out of range", category="option combination")
    args["timeout"] = value = draw(st.integers(max_value=0))
    return make_case("blob_fetch", args, f"timeout {value!r} is out of range", category="option combination")


@st.composite
def lookup_cases(draw, kind):
    terms, options = [draw(GOOD_DIGEST)], {"repository": draw(GOOD_REPOSITORY)}
    if kind == "repository":
        options["repository"] = value = draw(BAD_REPOSITORY)
        return case("lookup", {"terms": terms, "options": options}, f"repository {value!r}", category="repository")
    if kind == "digest":
        terms.append(draw(BAD_DIGEST))
        return case("lookup", {"terms": terms, "options": options}, f"terms[1] {terms[1]!r}", category="digest")
    if kind == "registry_id":
        options["registry_id"] = value = draw(BAD_REGISTRY_ID)
        return case("lookup", {"terms": terms, "options": options}, f"registry_id {value!r}", category="registry_id")
    options["concurrency"] = value = draw(BAD_CONCURRENCY)
    return case(
        "lookup",
        {"terms": terms, "options": options},
        f"concurrency {value!r} is out of range",
        category="option combination",
    )


def all_cases():
    """Every kind of invalid input, grouped so that each group is drawn about as often as the others."""
    groups = {
        "repository": [
            ecr_layer_url_cases("repository"),
            ecr_image_layers_cases("repository"),
            lookup_cases("repository"),
        ],
        "digest": [
            ecr_layer_url_cases("digest"),
            ecr_layer_url_cases("digests"),
            ecr_image_layers_cases("image_digest"),
            blob_fetch_cases("digest"),
            blob_fetch_cases("conflict"),
            blob_fetch_cases("digest", "oci_layout"),
            lookup_cases("digest"),
        ],
        "registry_id": [
            ecr_layer_url_cases("registry_id"),
            ecr_image_layers_cases("registry_id"),
            lookup_cases("registry_id"),
        ],
        "platform": [ecr_image_layers_cases("platform")],
        "options": [ecr_layer_url_cases(kind) for kind in ("concurrency", "both", "neither", "empty", "unknown")]
        + [ecr_image_layers_cases(kind) for kind in ("image_tag", "concurrency", "both", "neither")]
        + [
            blob_fetch_cases(kind)
            for kind in ("url", "size", "no_url", "not_a_dict", "empty", "concurrency", "retries", "timeout")
        ]
        + [blob_fetch_cases(kind, "oci_layout") for kind in ("url", "no_url", "empty", "concurrency")]
        + [lookup_cases("concurrency")],
    }
    # sampled_from + flatmap: one_of would flatten the groups into one list of branches, each drawn alike.
    return st.sampled_from(sorted(groups)).flatmap(lambda group: st.one_of(groups[group]))


def option_names(spec):
    return {name for option, settings_ in spec.items() for name in [option] + list(settings_.get("aliases") or [])}


# ecr_layer_url's options and aliases, and amazon.aws's: a generated option name must be none of them.
KNOWN_OPTIONS = option_names(aws_argument_spec()) | {
    "repository",
    "repository_name",
    "digest",
    "layer_digest",
    "digests",
    "registry_id",
    "concurrency",
}


def test_invalid_input_fails_clearly_before_any_request(emulator, tmp_path, figures):
    emulator.reset()
    begun = time.time()
    lookup = lookup_loader.get("airgap.ecr.ecr_layer_url")
    seen = Counter()
    by_module = Counter()
    dest = str(tmp_path / "dest")

    # Shrinking only in make stress: make reliability reports the failing example as generated, at once.
    phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if STRESS else [])

    @settings(
        max_examples=EXAMPLES,
        derandomize=not STRESS,
        database=None,
        deadline=None,
        phases=phases,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    @given(all_cases())
    def check(generated):
        started = time.time()
        if generated["module"] == "lookup":
            options = dict(generated["args"]["options"], **aws_args(emulator))
            try:
                lookup.run(generated["args"]["terms"], variables={}, **options)
            except AnsibleError as error:
                message = str(error)
            else:
                raise AssertionError(f"the lookup accepted {generated}")
        else:
            args = dict(generated["args"])
            if generated["module"] in DOWNLOADERS:
                args["dest"] = dest
                args["allow_http"] = True  # the emulator is http://
                args["blobs"] = [
                    dict(blob, url=blob["url"].format(endpoint=emulator.endpoint_url))
                    if isinstance(blob, dict) and "url" in blob and blob["url"].startswith("{endpoint}")
                    else blob
                    for blob in args["blobs"]
                ]
            else:
                args.update(aws_args(emulator))
            failed, result = run_module(MODULES[generated["module"]], **args)
            assert failed, (generated, result)
            assert "exception" not in result, result["exception"]
            message = result["msg"]
        # Requests this case started (a request another test left waiting at the emulator may be logged late).
        reached = [entry for entry in emulator.requests() if entry["time"] >= started]
        if reached:
            emulator.clear_requests()  # so that the next example starts clean, also while hypothesis shrinks
        assert not reached, (generated, reached)
        for text in generated["expected"]:
            assert text in message, (text, message)
        assert "Traceback" not in message
        seen[generated["category"]] += 1
        by_module[generated["module"]] += 1

    check()
    assert not os.path.exists(dest), "blob_fetch or oci_layout wrote into dest"
    total = sum(seen.values())
    assert total >= EXAMPLES - 50, seen
    assert all(
        seen[category] >= EXAMPLES // 20
        for category in ("repository", "digest", "registry_id", "platform", "option combination")
    ), seen
    figures.add("bad input", "generated invalid inputs, all rejected before any request", f"{total} of {total}")
    figures.add("bad input", "by kind", ", ".join(f"{name} {count}" for name, count in sorted(seen.items())))
    figures.add(
        "bad input", "by entry point", ", ".join(f"{name} {count}" for name, count in sorted(by_module.items()))
    )
    figures.add(
        "bad input",
        "requests that reached the endpoint",
        str(len([entry for entry in emulator.requests() if entry["time"] >= begun])),
    )
