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
          - The C(https://) URL to download the blob from (C(http://) only with O(allow_http)).
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
      - How many connections are open at once, for whole blobs and for the byte ranges of big blobs alike
        (see O(range_threshold)). Between 1 and 32.
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
      - A server that keeps sending a byte now and then never trips it; O(deadline) bounds the whole download.
    type: int
    default: 30
  deadline:
    description:
      - The time one blob may take, from its first request to its verification, retries included, in seconds.
        A blob still downloading then fails (what arrived is kept, for the next run to resume). At least 1.
    type: int
    default: 3600
  max_size:
    description:
      - The most bytes a blob whose O(blobs[].size) is not given may have. A server that announces or sends
        more is refused, and nothing of it is kept. A blob whose size is given is held to that size instead.
    type: int
    default: 17179869184
  range_threshold:
    description:
      - A blob of at least this many bytes (whose size is given, and more than one O(range_size)) is downloaded
        as byte ranges of O(range_size) at once, over the connections O(concurrency) allows, and written in place.
        It is verified as a whole before it is renamed into place; a range that fails is retried alone, and a
        later run downloads only the ranges still missing.
      - A server that ignores C(Range) is read as one stream. V(0) never uses ranges.
    type: int
    default: 67108864
  range_size:
    description:
      - The size of each byte range of a big blob, in bytes. At least 1048576 (1 MiB).
    type: int
    default: 16777216
  allow_http:
    description:
      - Whether C(http://) URLs, and redirects to them, are accepted. ECR's pre-signed URLs are C(https://); a
        plain C(http://) URL carries its signature in clear. Set this only for a test endpoint on a trusted
        network, such as a local ECR emulator.
      - A redirect from C(https://) to C(http://) is refused even then, as is a redirect to any other scheme.
    type: bool
    default: false
  http_origins:
    description:
      - Origins, C(http://<host>:<port>), whose plain C(http://) URLs (and redirects to them) are accepted although
        O(allow_http) is V(false); every other URL must still be C(https://).
      - For a relay inside the network (M(airgap.ecr.blob_relay)) that serves plain HTTP, while the other URLs, such
        as S3's, stay refused unless they are C(https://). Every blob is verified against its digest, whoever serves
        it.
    type: list
    elements: str
  headers:
    description:
      - Extra HTTP headers sent with every request, as a dict.
      - They are sent only to the scheme, host and port of the blob's URL, not to another host a redirect
        points to.
      - A C(Range) header is set by the module when it resumes a download or fetches a byte range.
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
      - The system's CA certificates are those OpenSSL finds by default on the target host (the
        C(SSL_CERT_FILE) and C(SSL_CERT_DIR) environment variables change them), or, when it finds none,
        the first CA bundle of the usual places of Debian, Red Hat, SUSE, Alpine and macOS.
    type: path
"""
