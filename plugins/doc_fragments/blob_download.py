# -*- coding: utf-8 -*-

# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    """How the target-side modules (blob_fetch, oci_layout) download blobs."""

    DOCUMENTATION = r"""
options:
  blobs:
    description:
      - The blobs to download into the layout, each a dict with the keys below. The C(config) and C(layers)
        items of M(airgap.ecr.ecr_image_layers) and the C(layers) items of M(airgap.ecr.ecr_layer_url) can be
        given as they are.
      - Required by M(airgap.ecr.blob_fetch). With M(airgap.ecr.oci_layout), the blobs of its manifest that
        it does not list must already be in the layout.
      - The same digest given more than once is downloaded once. Two entries with the same digest and
        different sizes are an error.
      - Everything is checked before any download; each problem is reported with the position of its entry.
      - The URLs are C(no_log) values, masked in the module's invocation, result and messages; still set
        C(no_log=true) on the task, since Ansible shows a task's arguments in other places.
    type: list
    elements: dict
    suboptions:
      digest:
        description:
          - The blob's digest, C(sha256:) followed by 64 lowercase hexadecimal characters, or C(sha512:)
            followed by 128. Either O(blobs[].digest) or O(blobs[].layer_digest) is required.
        type: str
      layer_digest:
        description:
          - The same as O(blobs[].digest), as M(airgap.ecr.ecr_layer_url) returns it. Given both, they must be equal.
        type: str
      url:
        description:
          - The C(http://) or C(https://) URL to download the blob from.
          - Required unless the blob is already present in O(dest).
          - Error messages name the entry and its digest, never the URL.
        type: str
      download_url:
        description:
          - The same as O(blobs[].url), as M(airgap.ecr.ecr_image_layers) and M(airgap.ecr.ecr_layer_url) return it.
            Given both, they must be equal.
        type: str
      size:
        description:
          - The blob's expected size in bytes. When given, a download of another size is refused, and an
            interrupted download can be recognised as such.
        type: raw
      media_type:
        description: Accepted and ignored (M(airgap.ecr.ecr_image_layers) returns it).
        type: str
      expires_at:
        description: Accepted and ignored (the URL's expiry, as the ECR modules return it).
        type: str
      foreign:
        description: Accepted and ignored (M(airgap.ecr.ecr_image_layers) returns it).
        type: bool
      urls:
        description: Accepted and ignored (M(airgap.ecr.ecr_image_layers) returns it for foreign layers).
        type: list
        elements: str
  concurrency:
    description:
      - How many blobs are downloaded at once. Between 1 and 32.
    type: int
    default: 4
  retries:
    description:
      - How many more times a blob is attempted after a connection error, a server error (5xx, 408, 429),
        a cut transfer (resumed where it stopped) or content with the wrong digest (started over).
      - Not after other client errors, such as an expired URL (403). Between 0 and 10.
    type: int
    default: 2
  timeout:
    description:
      - The socket timeout of each request, in seconds; a transfer that stalls for longer is cut (and retried,
        resuming where it stopped).
    type: int
    default: 30
  headers:
    description:
      - Extra HTTP headers sent with every request, as a dict.
      - A C(Range) header is set by the module when it resumes a download.
    type: dict
  validate_certs:
    description:
      - If V(false), SSL certificates are not validated. Use this only on personally controlled sites
        using self-signed certificates.
    type: bool
    default: true
  use_proxy:
    description:
      - If V(false), the proxy given by the C(http_proxy), C(https_proxy) and C(no_proxy) environment
        variables of the target host is not used.
    type: bool
    default: true
  client_cert:
    description:
      - PEM formatted certificate chain file for SSL client authentication.
      - It can also hold the key, in which case O(client_key) is not needed.
    type: path
  client_key:
    description:
      - PEM formatted file with the private key for SSL client authentication.
    type: path
  ca_path:
    description:
      - PEM formatted file of CA certificates used to validate the server's certificate, instead of the
        system's.
    type: path
"""
