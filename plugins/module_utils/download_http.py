# -*- coding: utf-8 -*-

# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The downloader's HTTP side: the opener, and error text that never shows a URL.

An *opener* is a callable ``opener(url, headers) -> response`` that raises
``urllib.error.HTTPError`` for HTTP error statuses; ``url_opener()`` builds one on
``ansible.module_utils.urls.Request``. The downloader takes it injected, so that it can be
tested without Ansible. A download URL is a bearer credential: ``scrub()`` takes URLs and
signatures out of any text before it becomes a message. Runs on target hosts.
"""

import re
import urllib.error

from ansible.module_utils.urls import Request

from ansible_collections.airgap.ecr.plugins.module_utils.common import AIRGAP_ECR_COLLECTION_VERSION

DEFAULT_TIMEOUT = 30
USER_AGENT = "airgap.ecr/%s blob_fetch" % AIRGAP_ECR_COLLECTION_VERSION

_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]*")
_SIGNATURE_RE = re.compile(r"(X-Amz-[A-Za-z-]+|Signature|AWSAccessKeyId)=[^\s&'\"<>]*", re.IGNORECASE)
_XML_CODE_RE = re.compile(r"<Code>([A-Za-z0-9.]{1,64})</Code>")
_XML_MESSAGE_RE = re.compile(r"<Message>([^<]{1,200})</Message>")
_CONTENT_RANGE_RE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)


def scrub(text, urls=()):
    """``text`` without the given URLs, nor anything that looks like a URL or a signature."""
    text = str(text)
    for url in urls:
        if url:
            text = text.replace(url, "<url>")
    text = _URL_RE.sub("<url>", text)
    return _SIGNATURE_RE.sub(r"\1=<hidden>", text)


def url_opener(timeout=DEFAULT_TIMEOUT, validate_certs=True, use_proxy=True, headers=None, client_cert=None, client_key=None, ca_path=None):
    """An opener on ``ansible.module_utils.urls.Request``, with the options' meaning of get_url.

    Proxies come from the usual environment variables (unless ``use_proxy`` is false), and
    redirects are followed for GET only (get_url's ``safe``). Content is never decompressed (a
    digest is of the bytes as stored) and ``~/.netrc`` is not used (a pre-signed URL carries its
    own authorization; another would be refused).
    """
    request = Request(
        headers=dict(headers or {}),
        use_proxy=use_proxy,
        timeout=timeout,
        validate_certs=validate_certs,
        client_cert=client_cert,
        client_key=client_key,
        ca_path=ca_path,
        http_agent=USER_AGENT,
        follow_redirects="safe",
        decompress=False,
        use_netrc=False,
    )

    def open_blob(url, request_headers):
        return request.open("GET", url, headers=dict(request_headers))

    return open_blob


def http_error_detail(error):
    """``", AccessDenied: Request has expired"`` from an S3-style XML error body, or ``""``."""
    try:
        body = error.read(4096)
    except Exception:  # pylint: disable=broad-except  # the body is a nicety; the status says enough
        return ""
    finally:
        error.close()
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else ""
    code = _XML_CODE_RE.search(text)
    message = _XML_MESSAGE_RE.search(text)
    parts = [m.group(1).strip() for m in (code, message) if m]
    return scrub(", " + ": ".join(parts)) if parts else ""


def describe_network_error(error, url):
    """``"ConnectionRefusedError: [Errno 111] Connection refused"``, without any URL."""
    if isinstance(error, urllib.error.URLError) and not isinstance(error.reason, str):
        error = error.reason
    text = str(error)
    return scrub(f"{type(error).__name__}: {text}" if text else type(error).__name__, [url])


def content_range(response):
    """``(first, last, total)`` of a 206 answer's ``Content-Range`` (total None for ``*``), or None."""
    match = _CONTENT_RANGE_RE.match(response.headers.get("Content-Range") or "")
    if not match:
        return None
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), int(match.group(2)), total
