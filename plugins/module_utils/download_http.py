# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The downloader's HTTP side: the opener, and error text that never shows a URL.

An *opener* is a callable ``opener(url, headers) -> response`` that raises
``urllib.error.HTTPError`` for HTTP error statuses; ``url_opener()`` builds one on the standard
library's ``urllib.request`` (not ``ansible.module_utils.urls``, whose import, with the
``cryptography`` package it loads, took a tenth of a CPU second of every module run on the
target). The downloader takes it injected, so that it can be tested without Ansible. A download
URL is a bearer credential: ``scrub()`` takes URLs and signatures out of any text before it
becomes a message. Runs on target hosts: standard library only.
"""

import os
import re
import ssl
import time
import urllib.error
import urllib.request
from http.client import HTTPException
from urllib.parse import urljoin
from urllib.parse import urlsplit

from ansible_collections.airgap.ecr.plugins.module_utils.common import AIRGAP_ECR_COLLECTION_VERSION

DEFAULT_TIMEOUT = 30
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset([301, 302, 303, 307, 308])
USER_AGENT = f"airgap.ecr/{AIRGAP_ECR_COLLECTION_VERSION} blob_fetch"

_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
# A signature or credential parameter, also with blanks or a ':' around its '=' (a header, a wrapped
# line) or URL-encoded.
_SIGNATURE_RE = re.compile(r"(X-Amz-[A-Za-z-]+|Signature|AWSAccessKeyId)(\s*(?:=|:|%3D)\s*)[^\s&'\"<>]*", re.IGNORECASE)
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


class RefusedURL(ValueError):
    """A URL or redirect not followed: another scheme than http(s), https to http, http without allow_http, too many."""


def check_url_scheme(url, allow_http, what="the URL", http_origins=()):
    """Raise RefusedURL unless ``url`` is https, or http with ``allow_http`` or of one of ``http_origins``.

    ``http_origins``: origins as ``http_origin()`` returns them. The message has no URL.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme == "https" or (scheme == "http" and (allow_http or http_origin(url) in http_origins)):
        return
    if scheme == "http":
        raise RefusedURL(
            f"{what} is a plain http URL, which is refused unless allow_http is true or http_origins lists its origin"
        )
    raise RefusedURL(f"{what} is not an http(s) URL (scheme {scheme[:16]!r})")


def _origin(url):
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


def http_origin(url):
    """``("http", host, port)`` of an http URL or origin (port 80 when not given), to compare origins."""
    scheme, host, port = _origin(url)
    return scheme, host, 80 if port is None and scheme == "http" else port


# The download options an opener takes (documented in the airgap.ecr.blob_download fragment), with their defaults.
OPENER_OPTIONS = {
    "timeout": DEFAULT_TIMEOUT,
    "validate_certs": True,
    "use_proxy": True,
    "headers": None,
    "client_cert": None,
    "client_key": None,
    "ca_path": None,
    "allow_http": False,
    "http_origins": None,
}


# CA bundles of the common distributions, read when neither ca_path nor OpenSSL's default paths give any.
CA_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
    "/usr/local/etc/openssl/cert.pem",
)


def tls_context(validate_certs=True, ca_path=None, client_cert=None, client_key=None):
    """The TLS context of every request of an opener; raises OSError (ssl.SSLError) or ValueError for bad files.

    ``ca_path`` alone when given; else the system's CA certificates (OpenSSL's default paths, or
    the first bundle of CA_BUNDLES that exists when those have none). Without ``validate_certs``
    neither the certificate nor the host name is checked.
    """
    context = ssl.create_default_context(cafile=ca_path)
    if not validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif not ca_path and not _default_cas_exist():
        for bundle in CA_BUNDLES:
            if os.path.isfile(bundle):
                context.load_verify_locations(cafile=bundle)
                break
    if client_cert:
        context.post_handshake_auth = True  # TLS 1.3 asks for the client certificate after the handshake
        context.load_cert_chain(client_cert, keyfile=client_key)
    return context


def _default_cas_exist():
    paths = ssl.get_default_verify_paths()
    return bool(paths.cafile) or bool(paths.capath and os.path.isdir(paths.capath) and os.listdir(paths.capath))


def _urllib_opener(context, use_proxy):
    """An OpenerDirector for http and https only: no cookies, no netrc, no decompression, and no redirect handler:

    a 3xx answer is an HTTPError, and the opener follows it itself, with its own rules.
    """
    opener = urllib.request.OpenerDirector()
    handlers = [
        urllib.request.ProxyHandler(None if use_proxy else {}),  # None: the usual proxy environment variables
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(context=context),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ]
    for handler in handlers:
        opener.add_handler(handler)
    return opener


def url_opener(**options):
    """An opener on ``urllib.request``, with the options' meaning of get_url.

    ``options`` are those of OPENER_OPTIONS (a module's parameters may hold more: they are ignored).

    Proxies come from the usual environment variables (``https_proxy``, ``no_proxy``, ...; unless
    ``use_proxy`` is false). Content is never decompressed (a digest is of the bytes as stored) and
    ``~/.netrc`` is not used (a pre-signed URL carries its own authorization; another would be
    refused). Redirects are followed here, not by urllib, for at most MAX_REDIRECTS hops: never to
    a scheme other than http(s), never from https to http, to http only with ``allow_http`` or to one
    of ``http_origins`` (``http://host:port`` strings), and the user's ``headers`` go to the first
    URL's origin only (another host does not get them).
    """
    # One TLS context for every request: loading the CA certificates costs CPU, and a ranged
    # download makes many requests.
    opts = {name: options.get(name, default) for name, default in OPENER_OPTIONS.items()}
    context = tls_context(**{name: opts[name] for name in ("validate_certs", "ca_path", "client_cert", "client_key")})
    opener = _urllib_opener(context, opts["use_proxy"])
    allow_http = opts["allow_http"]
    http_origins = frozenset(http_origin(origin) for origin in opts["http_origins"] or ())
    user_headers = dict(opts["headers"] or {})
    timeout = opts["timeout"]

    def open_blob(url, request_headers):
        check_url_scheme(url, allow_http, http_origins=http_origins)
        origin = _origin(url)
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            sent = {"User-Agent": USER_AGENT}
            sent.update(user_headers if _origin(current) == origin else {})
            sent.update(request_headers)
            try:
                return opener.open(urllib.request.Request(current, headers=sent, method="GET"), timeout=timeout)
            except urllib.error.HTTPError as e:
                if e.code not in REDIRECT_STATUSES or not e.headers.get("Location"):
                    raise
                e.close()
                current = _redirect_target(current, e.headers["Location"], allow_http, http_origins)
        raise RefusedURL(f"more than {MAX_REDIRECTS} redirects")

    return open_blob


def _redirect_target(current, location, allow_http, http_origins=()):
    """The absolute URL a redirect from ``current`` points to, checked; raises RefusedURL."""
    target = urljoin(current, location.strip())
    check_url_scheme(target, allow_http, what="a redirect target", http_origins=http_origins)
    if urlsplit(current).scheme.lower() == "https" and urlsplit(target).scheme.lower() != "https":
        raise RefusedURL("a redirect from https to http is refused")
    return target


def is_tls_verification_error(error):
    """Whether ``error`` (or the reason of a URLError) is a failed TLS certificate verification."""
    if isinstance(error, urllib.error.URLError) and not isinstance(error.reason, str):
        error = error.reason
    return isinstance(error, ssl.SSLCertVerificationError)


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


class BlobError(Exception):
    """A blob that cannot be fetched; the message is safe to show (it never contains a URL)."""


class RetryableError(BlobError):
    """A failure that another attempt may cure: connection errors, 5xx, a cut transfer, bad content."""


class Deadline:
    """The time one blob may take; ``check()`` raises BlobError once it has passed."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.ends = time.monotonic() + seconds

    def check(self):
        if time.monotonic() > self.ends:
            raise BlobError(f"it did not finish within the deadline of {self.seconds} seconds (the deadline option)")

    def remaining(self):
        return self.ends - time.monotonic()


def read_some(response, size):
    """At most ``size`` bytes of the body, as soon as some arrive (so that a trickle cannot outlive the deadline)."""
    read = getattr(response, "read1", None) or response.read
    return read(size)


def open_url(opener, url, headers):
    """``opener(url, headers)``: HTTP errors raised as they are, others as BlobError (final) or RetryableError."""
    try:
        return opener(url, headers)
    except urllib.error.HTTPError:
        raise
    except (urllib.error.URLError, HTTPException, OSError) as e:
        if is_tls_verification_error(e):
            # Another attempt meets the same certificate: no retry (see validate_certs and ca_path).
            raise BlobError(f"TLS certificate verification failed: {describe_network_error(e, url)}") from None
        raise RetryableError(describe_network_error(e, url)) from None
    except ValueError as e:
        raise BlobError(describe_network_error(e, url)) from None
