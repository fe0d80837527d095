# -*- coding: utf-8 -*-

# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    """How the target-side modules (blob_fetch, oci_layout) download blobs."""

    DOCUMENTATION = r"""
options:
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
