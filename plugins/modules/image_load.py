#!/usr/bin/python

# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: image_load
version_added: 0.1.0
short_description: Load images from an OCI layout into containerd, podman and Docker on the host
description:
  - Runs on the target host. Reads each image of O(images) from the OCI image layout at O(dest) (as the
    M(airgap.ecr.oci_layout) module and the P(airgap.ecr.image_fetch#role) role write it) and loads it into each
    runtime of O(runtimes), through the host's own client (C(ctr), C(podman), C(docker)). No Python package is
    needed on the host, and nothing in the layout is written.
  - The image keeps ECR's manifest bytes, so its digest is the one ECR reports, a Docker schema 2 image stays
    Docker schema 2 where the runtime takes it, and only the host's platform (the layout's) is imported.
  - containerd and podman find the image by its full name and by C(<repository>@<ECR digest>), so pods pinned by
    digest find it. Docker finds it by its full name (Docker keeps no digest for a loaded image); Docker 20.10 to
    24, which cannot load OCI archives, get the C(docker save) format.
  - A name by digest alone (C(<host>/<repository>@sha256:<hex>)) is kept as it is in containerd. podman and Docker
    cannot name an image by digest alone, so there the image is tagged C(<host>/<repository>:sha256-<hex>);
    podman also finds it by the digest.
  - An image a runtime already has, under its names and with ECR's digest, is left alone, so a second run
    imports nothing and reports no change. In check mode the module only asks each runtime what it has and
    returns what it would do.
  - A runtime that is missing or refuses an image fails the task with a message naming the runtime, the image
    and what to do; the images loaded before it stay loaded, and the layout is not changed.
  - To push the images to a registry inside the network instead, see M(airgap.ecr.image_push).
author:
  - airgap.ecr maintainers (@airgap-ecr)
options:
  runtimes:
    description: The runtimes to load into, in this order.
    type: list
    elements: str
    choices: [containerd, podman, docker]
    required: true
  containerd_address:
    description:
      - The containerd socket. k3s uses C(/run/k3s/containerd/containerd.sock), RKE2
        C(/run/k3s/containerd/containerd.sock) too.
    type: str
    default: /run/containerd/containerd.sock
  containerd_namespace:
    description: The containerd namespace; Kubernetes (the CRI plugin) uses C(k8s.io), C(ctr) alone C(default).
    type: str
    default: k8s.io
  ctr_path:
    description:
      - The C(ctr) program. RKE2 has it as C(/var/lib/rancher/rke2/bin/ctr); k3s installs C(/usr/local/bin/ctr).
    type: str
    default: ctr
  docker_host:
    description:
      - The Docker daemon, C(unix:///path/to/docker.sock), C(tcp://host:port) or C(ssh://user@host).
      - By default the client's own (the local socket, or E(DOCKER_HOST)).
    type: str
  podman_signature_policy:
    description:
      - A C(policy.json) for podman's pull of the private copy (default the host's
        C(/etc/containers/policy.json)). It must accept the C(dir) transport.
    type: path
  podman_tmpdir:
    description: Where podman's private copy of the image is made (default the system's temporary directory).
    type: path
attributes:
  check_mode:
    details:
      - In check mode each runtime is only asked what it has; nothing is imported, pulled, loaded or tagged.
notes:
  - Run it as root (or as a user that may use the runtime's socket).
  - podman's and Docker's environment variables (E(CONTAINERS_STORAGE_CONF), E(DOCKER_CERT_PATH), ...) are
    taken from the task's C(environment).
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - airgap.ecr.attributes.target
  - airgap.ecr.layout_images
"""

EXAMPLES = r"""
- name: Load every image of the layout into the node's containerd (Kubernetes' namespace)
  airgap.ecr.image_load:
    dest: /var/lib/images
    runtimes: [containerd]

- name: Load two images into k3s' containerd and into podman
  airgap.ecr.image_load:
    dest: /var/lib/images
    images:
      - ecr.example.internal/team/app:1.4.2
      - ecr.example.internal/team/base@sha256:0b3f4a5e9c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f
    runtimes: [containerd, podman]
    containerd_address: /run/k3s/containerd/containerd.sock

- name: Load an image of a layout written without full names into Docker, under a name of our own
  airgap.ecr.image_load:
    dest: /srv/images/app
    images:
      - name: registry.internal:5000/team/app:1.4.2
        ref_name: "1.4.2"
    runtimes: [docker]
  register: loaded

- name: Say how many images were loaded
  ansible.builtin.debug:
    msg: "{{ loaded.loaded }} image(s) loaded"
"""

RETURN = r"""
actions:
  description:
    - One entry per runtime and image, in the order they were loaded, with what was done (or, in check mode, would
      be done). When the task fails, the entries before the failure.
  returned: always
  type: list
  elements: dict
  contains:
    runtime:
      description: C(containerd), C(podman) or C(docker).
      type: str
    name:
      description: The name the image has in the runtime.
      type: str
    digest:
      description: ECR's manifest digest.
      type: str
    changed:
      description: Whether anything was (or would be) done.
      type: bool
    actions:
      description: What was (or would be) done, for example V(import ...@sha256:... into namespace k8s.io).
      type: list
      elements: str
    msg:
      description: One line saying the same.
      type: str
  sample:
    - runtime: containerd
      name: ecr.example.internal/team/app:1.4.2
      digest: sha256:0b3f4a5e9c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f
      changed: true
      actions:
        - import ecr.example.internal/team/app@sha256:0b3f4a5e... into namespace k8s.io
        - tag ecr.example.internal/team/app:1.4.2
loaded:
  description: How many loads (one image into one runtime) were done, or in check mode would be done.
  returned: always
  type: int
images:
  description: The full names of the images read from the layout.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.airgap.ecr.plugins.module_utils.image_delivery import LAYOUT_IMAGES_SPEC
from ansible_collections.airgap.ecr.plugins.module_utils.image_delivery import DeliveryModule
from ansible_collections.airgap.ecr.plugins.module_utils.image_delivery import deliver
from ansible_collections.airgap.ecr.plugins.module_utils.image_delivery import read_images
from ansible_collections.airgap.ecr.plugins.module_utils.layout_images import tagged
from ansible_collections.airgap.ecr.plugins.module_utils.load_containerd import ContainerdLoader
from ansible_collections.airgap.ecr.plugins.module_utils.load_docker import DockerLoader
from ansible_collections.airgap.ecr.plugins.module_utils.load_podman import PodmanLoader
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_image import ImageInputError

RUNTIMES = ["containerd", "podman", "docker"]


def loaders(params):
    """``[(runtime, loader)]`` of ``runtimes``, each distinct once, in order; raises ImageInputError."""
    wanted = list(dict.fromkeys(params["runtimes"]))
    if not wanted:
        raise ImageInputError(f"runtimes is empty: give one or more of {', '.join(RUNTIMES)}")
    make = {
        "containerd": lambda: ContainerdLoader(
            params["containerd_address"], params["containerd_namespace"], ctr=params["ctr_path"]
        ),
        "podman": lambda: PodmanLoader(
            signature_policy=params["podman_signature_policy"], tmpdir=params["podman_tmpdir"]
        ),
        "docker": lambda: DockerLoader(host=params["docker_host"]),
    }
    return [(runtime, make[runtime]()) for runtime in wanted]


def _step(runtime, loader, image, check_mode):
    # podman and Docker cannot name an image by digest alone; containerd keeps that name.
    target = image if runtime == "containerd" else tagged(image)
    return lambda: loader.load(target, check_mode=check_mode)


def main():
    module = DeliveryModule(
        argument_spec=dict(
            runtimes=dict(type="list", elements="str", choices=RUNTIMES, required=True),
            containerd_address=dict(type="str", default="/run/containerd/containerd.sock"),
            containerd_namespace=dict(type="str", default="k8s.io"),
            ctr_path=dict(type="str", default="ctr"),
            docker_host=dict(type="str"),
            podman_signature_policy=dict(type="path"),
            podman_tmpdir=dict(type="path"),
            **LAYOUT_IMAGES_SPEC,
        ),
        supports_check_mode=True,
    )
    try:
        chosen = loaders(module.params)
    except ImageInputError as e:
        module.fail_json(msg=str(e))
    images = read_images(module)
    steps = [_step(runtime, loader, image, module.check_mode) for runtime, loader in chosen for image in images]
    names = [image.name for image in images]
    deliver(
        module,
        steps,
        lambda results: dict(loaded=sum(1 for result in results if result["changed"]), images=names),
    )


if __name__ == "__main__":
    main()
