#!/usr/bin/python

# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: blob_fetch
version_added: 0.1.0
short_description: Download many content-addressed blobs from URLs into an OCI image layout, verified
description:
  - Downloads container image blobs (layers and configs) from their download URLs, typically the
    short-lived pre-signed URLs returned by M(airgap.ecr.ecr_image_layers) or M(airgap.ecr.ecr_layer_url),
    and verifies every byte against the blob's digest. It runs on the target host and needs no AWS
    credentials, no boto3 and no access to the ECR API; only HTTP(S) access to the URLs.
  - All the blobs are handled in one task, over at most O(concurrency) connections at a time. That is much faster
    than a loop of M(ansible.builtin.get_url), which starts a module for every blob. A big blob (see
    O(range_threshold)) is downloaded as several byte ranges at once, so that one layer is not held to the rate
    of one connection.
  - Each blob is written to O(dest)C(/blobs/<algorithm>/<hex>), the blob store of an OCI image layout.
    While it downloads, it is written to a hidden C(.<hex>.partial) file in the same directory and hashed;
    it is renamed to its final name only when its digest (and its size, when given) match. Nothing
    unverified is ever at the final path.
  - A blob already at its final path with the right digest (and size) is not downloaded again. A file at the
    final path with the wrong content is removed and downloaded again.
  - A transfer that is cut (connection reset, timeout, fewer bytes than announced) is resumed from where it
    stopped with an HTTP C(Range) request, on the next attempt or on the next run. Connection errors, server
    errors (5xx, 408, 429), cut transfers and content with the wrong digest are retried up to O(retries)
    times, with a delay of 1 second doubling up to 8 seconds. Other client errors are not retried.
  - An HTTP 401 or 403 answer means that the URL has expired or is not valid; the blob fails with a message
    saying so. Resolve new URLs on the controller and run the task again.
  - Every blob is attempted even when some fail; the blobs that were verified stay in place, and the task
    fails naming every blob that failed.
  - A download URL is a credential until it expires. The module keeps the URLs out of its messages, its
    result and the log of its invocation, but set C(no_log=true) on the task anyway, since Ansible shows the
    task's arguments in other places (for example with C(-vvv) or a failing template).
author:
  - airgap.ecr maintainers (@airgap-ecr)
options:
  dest:
    description:
      - The root directory of the OCI image layout. Blobs go to O(dest)C(/blobs/<algorithm>/<hex>).
      - Missing directories are created with the umask's mode, or O(dir_mode).
    type: path
    required: true
attributes:
  check_mode:
    support: full
    details:
      - Nothing is written or created. Blobs already present are verified (read only); every other blob is
        reported with the status C(would_fetch), and RV(changed) is V(true) when there is any.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - The file attribute options (O(mode), O(owner), O(group), ...) apply to every blob file, both
    downloaded and already present. Without O(mode), new blob files get the umask's mode (C(0644) with the
    usual umask C(022)); with an octal O(mode), a new blob gets it before it is renamed into place.
  - Content is stored as the server sends it, never decompressed (a digest is of the stored bytes), and
    C(~/.netrc) is not used (a pre-signed URL carries its own authorization).
  - Redirects are followed, at most 5 in a row, but never from C(https://) to C(http://), never to another
    scheme, to C(http://) only with O(allow_http), and O(headers) are not sent to another host.
  - Before the first request, the module checks that the blobs of known size still to download fit in the free
    space of the file system of O(dest). A write error (such as no space left) removes the download in progress.
seealso:
  - module: airgap.ecr.ecr_image_layers
  - module: airgap.ecr.ecr_layer_url
  - module: ansible.builtin.get_url
  - name: OCI image layout specification
    description: The directory layout the blobs are written into.
    link: https://github.com/opencontainers/image-spec/blob/main/image-layout.md
extends_documentation_fragment:
  - airgap.ecr.blob_download
  - airgap.ecr.layout
  - ansible.builtin.action_common_attributes
  - ansible.builtin.files
"""

EXAMPLES = r"""
# The air-gap pattern: resolve the image once on the controller (it has AWS credentials),
# then download its config and layers on every target host, which only needs to reach S3.
- name: Carry an image to air-gapped hosts
  hosts: airgapped
  tasks:
    - name: Resolve the image's config and layers, with their pre-signed URLs
      airgap.ecr.ecr_image_layers:
        repository: team/app
        image_tag: "1.4.2"
        platform: linux/amd64
        region: eu-west-1
      delegate_to: localhost
      run_once: true
      no_log: true  # the URLs are credentials until they expire
      register: image

    - name: Download every blob, verified, four at a time
      airgap.ecr.blob_fetch:
        blobs: "{{ [image.config] + image.layers | rejectattr('foreign') | list }}"
        dest: /var/lib/images/team-app
      no_log: true
      register: fetched

    - name: Show what was downloaded
      ansible.builtin.debug:
        msg: "{{ fetched.fetched }} blobs downloaded, {{ fetched.present }} already there, {{ fetched.bytes }} bytes"

# Layers resolved by digest, more at once, through a proxy with a private CA.
- name: Resolve the layer URLs
  airgap.ecr.ecr_layer_url:
    repository: team/app
    digests: "{{ app_layer_digests }}"
  delegate_to: localhost
  run_once: true
  no_log: true
  register: resolved

- name: Download them
  airgap.ecr.blob_fetch:
    blobs: "{{ resolved.layers }}"
    dest: /srv/oci/team-app
    concurrency: 8
    retries: 4
    timeout: 60
    ca_path: /etc/pki/tls/certs/corporate-ca.pem
    owner: root
    group: images
    mode: "0640"
  environment:
    https_proxy: http://proxy.internal:3128
  no_log: true

# Blobs already present need no URL: this checks them without downloading anything.
- name: Verify blobs present in the layout
  airgap.ecr.blob_fetch:
    blobs:
      - digest: sha256:4e07f3bd88fba1a3a2c58a4df2ea0e4b2b4e6e1a1c3fd0f1f2e3d4c5b6a79801
        size: 32654
    dest: /srv/oci/team-app
  check_mode: true
"""

RETURN = r"""
changed:
  description: Whether any blob was downloaded (in check mode, would be downloaded), or any file attribute changed.
  returned: always
  type: bool
blobs:
  description: One entry for every distinct digest, in the order of first appearance in O(blobs).
  returned: always
  type: list
  elements: dict
  contains:
    digest:
      description: The blob's digest.
      type: str
      sample: "sha256:4e07f3bd88fba1a3a2c58a4df2ea0e4b2b4e6e1a1c3fd0f1f2e3d4c5b6a79801"
    path:
      description: The blob's final path, O(dest)C(/blobs/<algorithm>/<hex>).
      type: str
      sample: "/var/lib/images/team-app/blobs/sha256/4e07f3bd88fba1a3a2c58a4df2ea0e4b2b4e6e1a1c3fd0f1f2e3d4c5b6a79801"
    status:
      description:
        - V(fetched) when it was downloaded and verified, V(present) when it was already there and verified,
          V(would_fetch) in check mode when it would be downloaded, V(failed) when it could not be fetched
          (the task then fails; see RV(failures)).
      type: str
      sample: fetched
    bytes:
      description:
        - The bytes downloaded for this blob in this run (more than its size after retries, less after a resume).
      type: int
    size:
      description: The blob's size in bytes; for V(would_fetch) and V(failed), the size given in O(blobs), or V(null).
      type: int
    seconds:
      description: The time spent on this blob, in seconds.
      type: float
    resumed_from:
      description: The byte offset from which the download that completed the blob was resumed, or 0.
      type: int
    replaced_corrupt:
      description:
        - Whether a file with the wrong content was found at the final path (and removed, except in check mode).
      type: bool
    error:
      description: Why the blob could not be fetched.
      type: str
      returned: when its status is V(failed)
total:
  description: How many distinct blobs were asked for.
  returned: always
  type: int
done:
  description:
    - How many of them are in place and verified after this run (RV(fetched) plus RV(present)); RV(done) of
      RV(total) is the progress of the layout, for example after a run that failed part way.
  returned: always
  type: int
fetched:
  description: How many blobs were downloaded.
  returned: always
  type: int
present:
  description: How many blobs were already present, verified.
  returned: always
  type: int
bytes:
  description: The bytes downloaded in this run, over all blobs.
  returned: always
  type: int
seconds:
  description: The wall time of the downloads and verifications, in seconds.
  returned: always
  type: float
throughput:
  description: RV(bytes) divided by RV(seconds), in bytes per second.
  returned: always
  type: float
failures:
  description: Every blob that could not be fetched, and why.
  returned: when some blobs failed
  type: list
  elements: dict
  contains:
    digest:
      description: The digest of the blob that failed.
      type: str
    error:
      description: Why it failed, without its URL.
      type: str
      sample: "the download URL has expired or is not valid (HTTP 403, AccessDenied: Request has expired): ..."
"""

from ansible_collections.airgap.ecr.plugins.module_utils.download_batch import failure_message
from ansible_collections.airgap.ecr.plugins.module_utils.layout import LAYOUT_ARGUMENT_SPEC
from ansible_collections.airgap.ecr.plugins.module_utils.layout import LayoutError
from ansible_collections.airgap.ecr.plugins.module_utils.layout import layout_from_params
from ansible_collections.airgap.ecr.plugins.module_utils.target_module import DOWNLOAD_ARGUMENT_SPEC
from ansible_collections.airgap.ecr.plugins.module_utils.target_module import TargetModule
from ansible_collections.airgap.ecr.plugins.module_utils.target_module import blobs_option
from ansible_collections.airgap.ecr.plugins.module_utils.target_module import download
from ansible_collections.airgap.ecr.plugins.module_utils.target_module import download_request
from ansible_collections.airgap.ecr.plugins.module_utils.target_module import set_file_attributes
from ansible_collections.airgap.ecr.plugins.module_utils.validation import ValidationError


def main():
    argument_spec = dict(
        blobs=blobs_option(),
        dest=dict(type="path", required=True),
        **LAYOUT_ARGUMENT_SPEC,
        **DOWNLOAD_ARGUMENT_SPEC,
    )
    module = TargetModule(argument_spec=argument_spec, supports_check_mode=True, add_file_common_args=True)
    try:
        blobs, concurrency = download_request(module.params)
        layout = layout_from_params(module.params).check()
        result = download(module.params, blobs, concurrency, layout, module.check_mode)
    except (ValidationError, LayoutError) as e:
        module.fail_json(msg=str(e))
    result["changed"] = set_file_attributes(module, result) or result["changed"]
    if result["failures"]:
        module.fail_json(msg=failure_message(result["failures"], len(blobs)), **result)
    del result["failures"]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
