# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bundles into the runtimes, through the real playbooks: ``ansible-playbook airgap.ecr.bundle_create`` against the
ECR emulator, then ``airgap.ecr.bundle_deliver`` with no AWS setting at all, to two local hosts that load the images
into containerd, podman and Docker and push them to the TLS registry with basic auth.

The bundle holds app (Docker schema 2) and tool (OCI), which share a base layer, and multi, an OCI image index for
linux/amd64 and linux/arm64/v8, for bundle_platforms linux/amd64 and linux/arm64. node-a is linux/amd64, node-b
linux/arm64 (the platform the role gives an aarch64 host); each has a containerd namespace, a podman storage and a
dockerd of its own (its Python is a wrapper that sets podman's
environment, as another machine would have it). One bundle serves a run in check mode, the first delivery, the
second run and, with a delta holding app:1.1 (its top layer changed), the delivery on top.
"""

import json
import os
import re
import shlex
import sys

import daemons
import pytest
from conftest import PASSWORD
from conftest import USERNAME
from conftest import run
from playbook import Playbook
from playbook import recap

from ansible_collections.airgap.ecr.plugins.module_utils.registry_client import RegistryClient
from ansible_collections.airgap.ecr.tests.emulator import images as emulated
from ansible_collections.airgap.ecr.tests.support.credentials import REGION
from ansible_collections.airgap.ecr.tests.support.credentials import environment

APP, TOOL, MULTI = "rtbundle/app", "rtbundle/tool", "rtbundle/multi"
# node-b's platform is the one the role gives an aarch64 host; multi's index names linux/arm64/v8.
HOSTS = {"node-a": "linux/amd64", "node-b": "linux/arm64"}
MULTI_PLATFORMS = {"linux/amd64": "linux/amd64", "linux/arm64": "linux/arm64/v8"}
FIRST = [{"repository": APP, "tag": "1.0"}, {"repository": TOOL, "tag": "2.0"}, {"repository": MULTI, "tag": "3.0"}]
DELTA = [{"repository": APP, "tag": "1.1"}] + FIRST[1:]
SUMMARY = re.compile(
    r'"(node-[ab]): (\d+) image\(s\) for (\S+) in [^,]+, (\d+) blob\(s\) sent from the controller, (\d+) bytes; '
    r'(\d+) loaded, (\d+) pushed"'
)


# The single-platform images: key, repository, tag, the seed and KiB of the layer on top of the base they share, and
# the media types. app2 is app with that layer changed.
SINGLE = (
    ("app", APP, "1.0", 7301, 96, "docker"),
    ("tool", TOOL, "2.0", 7302, 64, "oci"),
    ("app2", APP, "1.1", 7303, 96, "docker"),
)


@pytest.fixture(scope="module", name="pushed")
def pushed_fixture(emulator):
    """ECR's side: ``{"app", "app2", "tool": push_image's result, "multi": {platform: its child's result}}``."""
    client = emulator.client("ecr")
    base = emulated.make_layer(48 * 1024, 7300)
    result = {"multi": {}}
    for key, repository, tag, seed, kib, flavour in SINGLE:
        layers = [base, emulated.make_layer(kib * 1024, seed)]
        config = emulated.make_config(layers)
        result[key] = emulated.push_image(client, repository, tag, layers, config, media_type=flavour)
    for number, (platform, indexed) in enumerate(MULTI_PLATFORMS.items()):
        parts = indexed.split("/")
        layers = [emulated.make_layer(16 * 1024, 7310 + number)]
        config = emulated.make_config(layers, arch=parts[1], variant=parts[2] if len(parts) > 2 else None)
        child = emulated.push_image(client, MULTI, None, layers, config, media_type="oci")
        child.update(
            digest=child["image_digest"], platform=dict(zip(("os", "architecture", "variant"), parts, strict=False))
        )
        result["multi"][platform] = child
    index, media_type = emulated.make_index(list(result["multi"].values()), "oci")
    emulated.push_manifest(client, MULTI, "3.0", index, media_type)
    return result


def host_python(directory, environ):
    """A Python for one host: the test's own, started with that host's podman environment."""
    path = os.path.join(directory, "python")
    exports = "".join(f"export {name}={shlex.quote(value)}\n" for name, value in environ.items())
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(f'#!/bin/sh\n{exports}exec {shlex.quote(sys.executable)} "$@"\n')
    os.chmod(path, 0o755)
    return path


@pytest.fixture(scope="module", name="fleet")
def fleet_fixture(workdir, containerd, dockerd):
    """``{host: its inventory variables plus podman_env}``; node-b's own dockerd is stopped at the end."""
    directory = os.path.join(workdir, "bundle")
    os.makedirs(os.path.join(directory, "dockerd-b"))
    second = daemons.start_dockerd(os.path.join(directory, "dockerd-b"), containerd.socket, namespace="moby-b")
    hosts = {}
    for host, platform in HOSTS.items():
        podman = os.path.join(directory, f"podman-{host}")
        os.makedirs(podman)
        environ = daemons.podman_environ(podman)[0]
        hosts[host] = {
            "ansible_python_interpreter": host_python(podman, environ),
            "image_fetch_dest": os.path.join(directory, f"layout-{host}"),
            "image_fetch_platform": platform,
            "image_fetch_containerd_namespace": f"bundle-{host}",
            "image_fetch_docker_host": dockerd.host if host == "node-a" else second.host,
            "podman_env": environ,
        }
    yield hosts
    second.stop()


class Bundles:
    """Makes bundles with the ECR emulator's credentials and delivers them with none."""

    def __init__(self, directory, emulator, fleet, registry, containerd):
        self.directory, self.emulator = directory, emulator
        inventory = {host: {k: v for k, v in values.items() if k != "podman_env"} for host, values in fleet.items()}
        self.playbook = Playbook(os.path.join(directory, "ansible"), inventory)
        self.deliver_vars = self.playbook._write(  # pylint: disable=protected-access
            "deliver.json",
            json.dumps(
                {
                    "airgap_hosts": "fleet",
                    "bundle_work_dir": os.path.join(directory, "work"),
                    "image_fetch_load": ["containerd", "podman", "docker"],
                    "image_fetch_containerd_address": containerd.socket,
                    "image_fetch_push_registry": registry.url,
                    "image_fetch_push_username": USERNAME,
                    "image_fetch_push_password": PASSWORD,
                    "image_fetch_push_ca_path": registry.ca,
                }
            ),
        )
        # The disconnected side: not one AWS setting, nothing that points at the emulator.
        self.offline = {name: value for name, value in self.playbook.env.items() if not name.startswith("AWS_")}

    def create(self, name, images, **extra):
        """Make the bundle ``name``; its bundle.json."""
        dest = os.path.join(self.directory, name)
        variables = dict(
            bundle_images=images,
            bundle_platforms=list(HOSTS.values()),
            bundle_dest=dest,
            aws_region=REGION,
            aws_endpoint_url=self.emulator.endpoint_url,
            allow_http=True,  # the emulator's download URLs are http://
            **extra,
        )
        plays = [{"ansible.builtin.import_playbook": "airgap.ecr.bundle_create"}]
        rc, output = self.playbook.run(plays, "-e", json.dumps(variables), env=dict(self.playbook.env, **environment()))
        assert rc == 0, output
        with open(os.path.join(dest, "bundle.json"), encoding="utf-8") as handle:
            return json.load(handle)

    def deliver(self, name, *args):
        """Deliver the bundle ``name`` to the fleet (``args``: more options of ansible-playbook): ``(output, {host:
        (images, platform, blobs sent, bytes, loaded, pushed)})`` from the playbook's summary; no request reaches the
        emulator."""
        self.emulator.clear_requests()
        plays = [{"ansible.builtin.import_playbook": "airgap.ecr.bundle_deliver"}]
        source = ["-e", json.dumps({"bundle_src": os.path.join(self.directory, name)})]
        rc, output = self.playbook.run(plays, "-e", "@" + self.deliver_vars, *source, *args, env=self.offline)
        assert rc == 0, output
        assert self.emulator.requests() == [], "bundle_deliver called the ECR emulator"
        assert PASSWORD not in output
        summary = {found[0]: (int(found[1]), found[2], *map(int, found[3:])) for found in SUMMARY.findall(output)}
        assert set(summary) == set(HOSTS), output
        return output, summary


@pytest.fixture(scope="module", name="bundles")
def bundles_fixture(emulator, pushed, fleet, registry_basic, containerd, workdir):  # pylint: disable=unused-argument
    return Bundles(os.path.join(workdir, "bundle"), emulator, fleet, registry_basic, containerd)


def runtime_names(fleet, containerd, host):
    """The names of this test's images in the host's containerd namespace, podman storage and dockerd."""
    names = run(["ctr", "-a", containerd.socket, "-n", f"bundle-{host}", "images", "ls", "-q"]).split()
    podman = ["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"]
    names += run(podman, env=fleet[host]["podman_env"]).split()
    docker = ["docker", "-H", fleet[host]["image_fetch_docker_host"], "images", "--format", "{{.Repository}}:{{.Tag}}"]
    names += run(docker).split()
    return [name for name in names if "/rtbundle/" in name]


@pytest.fixture(scope="module", name="first")
def first_fixture(bundles, fleet, containerd, registry_basic):
    """The first bundle, made once, delivered in check mode, then for real: ``{"bundle": bundle.json, "checked" and
    "delivered": (output, summary), "after_check": {host: (its layout exists, names in its runtimes)},
    "registry_after_check": the digest of app:1.0 in the registry}``."""
    bundle = bundles.create("b1", FIRST)
    checked = bundles.deliver("b1", "--check")
    after_check = {
        host: (os.path.exists(values["image_fetch_dest"]), runtime_names(fleet, containerd, host))
        for host, values in fleet.items()
    }
    client = RegistryClient(registry_basic.url, USERNAME, PASSWORD, ca_path=registry_basic.ca)
    in_registry = client.manifest_digest(APP, "1.0", emulated.DOCKER_MANIFEST)
    return {
        "bundle": bundle,
        "checked": checked,
        "after_check": after_check,
        "registry_after_check": in_registry,
        "delivered": bundles.deliver("b1"),
    }


def host_images(bundle, host):
    """The images of ``bundle`` that ``host`` takes (those resolved for its platform)."""
    return [image for image in bundle["images"] if image["bundle_platform"] == HOSTS[host]]


def pinned(image):
    return f"{image['name'].rsplit(':', 1)[0]}@{image['image_digest']}"


def assert_in_runtimes(fleet, containerd, host, images):
    """Each image is in the host's containerd and podman by name and by digest, ECR's digest, and in its Docker."""
    lines = run(["ctr", "-a", containerd.socket, "-n", f"bundle-{host}", "images", "ls"]).splitlines()[1:]
    listed = {line.split()[0]: line.split()[2] for line in lines}
    for image in images:
        assert listed.get(image["name"]) == image["image_digest"] == listed.get(pinned(image)), (image, listed)
        environ = fleet[host]["podman_env"]
        by_name = json.loads(run(["podman", "image", "inspect", image["name"]], env=environ))[0]
        by_digest = json.loads(run(["podman", "image", "inspect", pinned(image)], env=environ))[0]
        assert by_name["Digest"] == image["image_digest"] and by_digest["Id"] == by_name["Id"], (image, by_name)
        docker = ["docker", "-H", fleet[host]["image_fetch_docker_host"], "image", "inspect", "--format", "{{.Id}}"]
        assert run(docker + [image["name"]]).strip() == image["blobs"][0], image  # its config, ECR's


def blobs_of(bundle, host):
    wanted = {digest for image in host_images(bundle, host) for digest in image["blobs"]}
    return [blob for blob in bundle["blobs"] if blob["digest"] in wanted and blob["in_bundle"]]


def test_check_mode_says_what_would_be_done_and_does_none_of_it(first):
    output, summary = first["checked"]
    assert "(check mode: nothing written; the figures are what would be done)" in output
    for host, platform in HOSTS.items():
        blobs = blobs_of(first["bundle"], host)
        # Every load; no push, as the layout it would read is not there yet.
        assert summary[host] == (3, platform, len(blobs), sum(blob["size"] for blob in blobs), 9, 0), summary
    assert first["after_check"] == dict.fromkeys(HOSTS, (False, [])), first["after_check"]
    assert first["registry_after_check"] is None


def test_delivery_loads_every_runtime_and_pushes_ecr_bytes(first, fleet, containerd, registry_basic, pushed):
    bundle, summary = first["bundle"], first["delivered"][1]
    ecr = {
        "linux/amd64": [pushed["app"], pushed["tool"], pushed["multi"]["linux/amd64"]],
        "linux/arm64": [pushed["app"], pushed["tool"], pushed["multi"]["linux/arm64"]],
    }
    for host, platform in HOSTS.items():
        images = host_images(bundle, host)
        assert [image["image_digest"] for image in images] == [image["image_digest"] for image in ecr[platform]]
        assert_in_runtimes(fleet, containerd, host, images)
        blobs = blobs_of(bundle, host)
        pushes = 3 if host == "node-a" else 0  # once, from the first host: its platform's images
        assert summary[host] == (3, platform, len(blobs), sum(blob["size"] for blob in blobs), 9, pushes), summary

    # The host's layout keeps the platform multi's index names for the image, though node-b asked for linux/arm64.
    with open(os.path.join(fleet["node-b"]["image_fetch_dest"], "index.json"), encoding="utf-8") as handle:
        entries = {entry["digest"]: entry for entry in json.load(handle)["manifests"]}
    assert entries[pushed["multi"]["linux/arm64"]["image_digest"]]["platform"]["variant"] == "v8"

    client = RegistryClient(registry_basic.url, USERNAME, PASSWORD, ca_path=registry_basic.ca)
    for image, source in zip(host_images(bundle, "node-a"), ecr["linux/amd64"], strict=True):
        repository = image["repository"]
        assert client.manifest_digest(repository, image["tag"], source["media_type"]) == source["image_digest"]
        path = f"/v2/{repository}/manifests/{source['image_digest']}"
        served = client.request("GET", path, {"Accept": source["media_type"]}).read()
        assert served == source["manifest"].encode("utf-8"), image["name"]


def test_second_delivery_changes_nothing(first, bundles):
    output, summary = bundles.deliver("b1")
    assert {host: counts["changed"] for host, counts in recap(output).items()} == dict.fromkeys(HOSTS, 0), output
    assert {host: figures[2:] for host, figures in summary.items()} == dict.fromkeys(HOSTS, (0, 0, 0, 0)), summary


def test_delta_after_one_changed_layer_loads_the_new_image(first, bundles, fleet, containerd, registry_basic, pushed):
    delta = bundles.create("b2", DELTA, bundle_since=os.path.join(bundles.directory, "b1"))
    changed = pushed["app2"]["layers"][1]["digest"]
    assert sorted(blob["digest"] for blob in delta["blobs"] if blob["in_bundle"]) == sorted(
        [changed, pushed["app2"]["config"]["digest"]]
    )
    _output, summary = bundles.deliver("b2")
    for host, platform in HOSTS.items():
        new = [image for image in host_images(delta, host) if image["tag"] == "1.1"]
        assert [image["image_digest"] for image in new] == [pushed["app2"]["image_digest"]]
        assert_in_runtimes(fleet, containerd, host, host_images(delta, host) + host_images(first["bundle"], host))
        pushes = 1 if host == "node-a" else 0
        size = pushed["app2"]["layers"][1]["size"] + pushed["app2"]["config"]["size"]
        assert summary[host] == (3, platform, 2, size, 3, pushes), summary
    client = RegistryClient(registry_basic.url, USERNAME, PASSWORD, ca_path=registry_basic.ca)
    assert client.manifest_digest(APP, "1.1", pushed["app2"]["media_type"]) == pushed["app2"]["image_digest"]
