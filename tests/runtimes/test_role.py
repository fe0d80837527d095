# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The image_fetch role with image_fetch_load and image_fetch_push_registry, through the real ansible-playbook.

Two local hosts (``ansible_connection=local``) fetch airgap/demo:multi (an OCI image index; each host
takes linux/amd64) and then airgap/demo:1.0 (Docker schema 2) from the ECR emulator, load each into
containerd (a namespace each), podman (a storage each) and the one dockerd, and push it once to the TLS
registry with basic auth.
"""

import json
import os

from conftest import PASSWORD
from conftest import USERNAME
from conftest import run
from playbook import Playbook
from playbook import delivery
from playbook import recap

from ansible_collections.airgap.ecr.plugins.module_utils.registry_client import RegistryClient
from ansible_collections.airgap.ecr.tests.emulator import images as emulated
from ansible_collections.airgap.ecr.tests.support.credentials import aws_options

HOSTS = ("node-a", "node-b")


def ecr_digests():
    """``{tag: ECR's manifest digest}``: demo:multi's linux/amd64 image (OCI) and demo:1.0 (Docker schema 2)."""
    layers, config = emulated.demo_blobs()
    digests = {emulated.DEMO_TAG: emulated.sha256_digest(emulated.make_manifest(layers, config, "docker")[0])}
    for platform, layers, config in emulated.demo_multi_blobs():
        if platform["architecture"] == "amd64":
            digests[emulated.DEMO_MULTI_TAG] = emulated.sha256_digest(emulated.make_manifest(layers, config, "oci")[0])
    return digests


def play(emulator, containerd, dockerd, registry, workdir):
    hosts = {}
    for host in HOSTS:
        podman = os.path.join(workdir, f"role-{host}")
        os.makedirs(podman, exist_ok=True)
        environ = {
            "CONTAINERS_STORAGE_CONF": f"{podman}/storage.conf",
            "CONTAINERS_REGISTRIES_CONF": f"{podman}/registries.conf",
            "CONTAINERS_CONF": f"{podman}/containers.conf",
        }
        with open(environ["CONTAINERS_STORAGE_CONF"], "w", encoding="utf-8") as handle:
            handle.write(f'[storage]\ndriver = "vfs"\ngraphroot = "{podman}/graph"\nrunroot = "{podman}/run"\n')
        with open(environ["CONTAINERS_REGISTRIES_CONF"], "w", encoding="utf-8") as handle:
            handle.write("unqualified-search-registries = []\n")
        with open(environ["CONTAINERS_CONF"], "w", encoding="utf-8") as handle:
            handle.write(f'[engine]\ntmp_dir = "{podman}/tmp"\n')
        hosts[host] = {"dest": os.path.join(workdir, f"role-layout-{host}"), "podman_env": environ}
    variables = {
        "image_fetch_repository": emulated.DEMO_REPOSITORY,
        "image_fetch_dest": "{{ dest }}",
        "image_fetch_platform": "linux/amd64",
        "image_fetch_aws": aws_options(emulator.endpoint_url),
        "image_fetch_allow_http": True,  # the emulator's URLs are http://
        "image_fetch_load": ["containerd", "podman", "docker"],
        "image_fetch_containerd_address": containerd.socket,
        "image_fetch_containerd_namespace": "role-{{ inventory_hostname }}",
        "image_fetch_docker_host": dockerd.host,
        "image_fetch_push_registry": registry.url,
        "image_fetch_push_username": USERNAME,
        "image_fetch_push_password": PASSWORD,
        "image_fetch_push_ca_path": registry.ca,
    }
    plays = [
        {
            "name": f"Fetch, load and push the image {tag}",
            "hosts": "fleet",
            "gather_facts": False,
            "environment": "{{ podman_env }}",
            "roles": [dict({"role": "airgap.ecr.image_fetch", "image_fetch_tag": tag}, **variables)],
            "post_tasks": [{"name": "Show the delivery", "ansible.builtin.debug": {"var": "image_fetch_delivery"}}],
        }
        for tag in (emulated.DEMO_MULTI_TAG, emulated.DEMO_TAG)
    ]
    return plays, hosts


def test_role_loads_into_every_runtime_and_pushes_once(
    emulator, containerd, dockerd, registry_basic, workdir, tmp_path
):
    plays, hosts = play(emulator, containerd, dockerd, registry_basic, workdir)
    playbook = Playbook(tmp_path / "ansible", hosts)
    digests = ecr_digests()

    rc, checked = playbook.run(plays, "--check")
    assert rc == 0, checked
    assert [d["loaded"] for d in delivery(checked).get("node-a", [])] == [3, 3], checked
    assert not run(["ctr", "-a", containerd.socket, "-n", "role-node-a", "images", "ls", "-q"]).split()

    rc, first = playbook.run(plays)
    assert rc == 0, first
    figures = delivery(first)
    assert [[d["loaded"] for d in figures[host]] for host in HOSTS] == [[3, 3], [3, 3]], figures
    # demo:multi's amd64 image: a config and 2 layers; demo:1.0: a config and 3 layers.
    assert [(d["pushed"], d["uploaded"]) for d in figures["node-a"]] == [(1, 3), (1, 4)], figures
    assert [d["pushed"] for d in figures["node-b"]] == [0, 0], figures
    client = RegistryClient(registry_basic.url, USERNAME, PASSWORD, ca_path=registry_basic.ca)
    for tag, digest in digests.items():
        for host in HOSTS:
            names = run(["ctr", "-a", containerd.socket, "-n", f"role-{host}", "images", "ls"]).splitlines()[1:]
            listed = {line.split()[0]: line.split()[2] for line in names}
            full = [name for name in listed if name.endswith(f"/{emulated.DEMO_REPOSITORY}:{tag}")]
            assert len(full) == 1 and listed[full[0]] == digest, listed
            assert listed[f"{full[0].rsplit(':', 1)[0]}@{digest}"] == digest
            inspected = json.loads(run(["podman", "image", "inspect", full[0]], env=hosts[host]["podman_env"]))[0]
            assert inspected["Digest"] == digest
            assert run(["docker", "-H", dockerd.host, "image", "inspect", "--format", "{{.Id}}", full[0]]).strip()
        media_type = json.loads(run(["ctr", "-a", containerd.socket, "-n", "role-node-a", "content", "get", digest]))
        assert client.manifest_digest(emulated.DEMO_REPOSITORY, tag, media_type["mediaType"]) == digest

    rc, again = playbook.run(plays)
    assert rc == 0, again
    assert {host: counts["changed"] for host, counts in recap(again).items()} == dict.fromkeys(HOSTS, 0), again
    figures = delivery(again)
    assert [d["loaded"] + d["pushed"] for host in HOSTS for d in figures[host]] == [0, 0, 0, 0], figures
    assert PASSWORD not in checked + first + again
