# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Push an image to a registry inside the network with the OCI distribution API, over ansible's urls.

Target side: standard library and ``ansible.module_utils`` only; no skopeo or other tool.

The image goes to ``<repository>:<tag>``: blobs the registry already has (HEAD) are skipped, the
others are mounted from another repository of the registry this client saw holding them, or else
uploaded in one PUT or, when larger than the chunk size, in PATCH chunks; then the
manifest is PUT with its exact bytes and media type, and the registry's ``Docker-Content-Digest``
must be ECR's digest. A tag that already names that digest pushes nothing. Authentication: none,
basic, or token (``WWW-Authenticate: Bearer realm,service,scope``, the token fetched with the
same username and password). Credentials are sent only to the registry's own origin and its token
realm, and never appear in a message.
"""

import base64
import json
import re
import ssl
from urllib.error import HTTPError
from urllib.error import URLError
from urllib.parse import quote
from urllib.parse import urlencode
from urllib.parse import urljoin
from urllib.parse import urlsplit

from ansible.module_utils.urls import open_url

from ansible_collections.airgap.ecr.plugins.module_utils.common import AIRGAP_ECR_COLLECTION_VERSION
from ansible_collections.airgap.ecr.plugins.module_utils.digests import digest_of
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_exec import result
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_image import ImageDeliveryError
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_image import ImageInputError

REPOSITORY_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
REGISTRY_URL_RE = re.compile(
    r"^(?P<scheme>https?)://(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>[0-9]{1,5}))?/?$"
)
DEFAULT_CHUNK_SIZE = 64 * 1024 * 1024
_CHALLENGE_RE = re.compile(r'(\w+)="([^"]*)"')
_AGENT = f"airgap.ecr/{AIRGAP_ECR_COLLECTION_VERSION}"
_NEEDS_CREDENTIALS = "the registry requires authentication: set image_fetch_push_username and image_fetch_push_password"
# A manifest is small; a registry that sends more is not answering the question asked.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024


def _reference(tag):
    """A tag, or a digest (``sha256:<hex>``), as it goes into a manifest URL."""
    return quote(tag, safe=":")


class RegistryPushError(ImageDeliveryError):
    """The registry refused the image or could not be reached; never holds a credential."""


def parse_registry_url(url):
    """``https://host[:port]`` or ``http://host[:port]`` -> the normalised origin, else ImageInputError."""
    match = REGISTRY_URL_RE.fullmatch(url) if isinstance(url, str) else None
    if not match or (match.group("port") and not 0 < int(match.group("port")) < 65536):
        shown = "<not shown: it contains credentials>" if isinstance(url, str) and "@" in url else repr(url)
        raise ImageInputError(
            f"registry URL {shown} is not of the form https://host[:port] (or http://host[:port] for a plain-HTTP "
            "registry), without a path; give the username and password as options, not in the URL"
        )
    return url.rstrip("/")


def _registry_errors(body):
    try:
        errors = json.loads(body).get("errors") or []
        return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors if isinstance(e, dict))
    except (ValueError, AttributeError):
        return ""


class RegistryClient:
    """One registry: ``url`` (``https://host[:port]`` or ``http://...``), optional ``username``/``password``.

    ``validate_certs``: verify the registry's TLS certificate; ``ca_path``: a CA bundle file to verify
    it with. ``chunk_size``: blobs larger than this are uploaded in chunks of this size.
    """

    def __init__(
        self,
        url,
        username=None,
        password=None,
        validate_certs=True,
        ca_path=None,
        chunk_size=DEFAULT_CHUNK_SIZE,
        timeout=60,
    ):
        self.url = parse_registry_url(url)
        if (username is None) != (password is None):
            raise ImageInputError(f"registry {self.url}: give both a username and a password, or neither")
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1024:
            raise ImageInputError(f"chunk_size {chunk_size!r} is not a number of bytes of at least 1024")
        self.username, self._password = username, password
        self.validate_certs, self.ca_path = validate_certs, ca_path
        self.chunk_size, self.timeout = chunk_size, timeout
        self._authorization = None
        self._target = self._repository = None
        # Blob digest -> a repository of this registry this client saw holding it (for cross-repository mounts).
        self._seen = {}
        self.requests = []

    def _error(self, detail):
        return RegistryPushError(f"registry {self.url}", self._target or "?", self._scrub(detail))

    def _scrub(self, text):
        text = str(text)
        for secret in (self._password, (self._authorization or "").partition(" ")[2]):
            if secret:
                text = text.replace(secret, "********")
        return text

    def _same_origin(self, url):
        return urlsplit(url)[:2] == urlsplit(self.url)[:2]

    def _open(self, method, url, headers=None, data=None, authorize=True):
        headers = dict(headers or {})
        if authorize and self._authorization and self._same_origin(url):
            headers["Authorization"] = self._authorization
        self.requests.append((method, urlsplit(url).path))
        try:
            return open_url(
                url,
                data=data,
                headers=headers,
                method=method,
                validate_certs=self.validate_certs,
                ca_path=self.ca_path,
                follow_redirects="none",
                use_netrc=False,
                timeout=self.timeout,
                http_agent=_AGENT,
            )
        except HTTPError as e:
            return e
        except (URLError, ssl.SSLError, OSError) as e:
            raise self._error(self._network_hint(method, url, getattr(e, "reason", e))) from None

    def _network_hint(self, method, url, reason):
        what = f"{method} {urlsplit(url).path}"
        if isinstance(reason, ssl.SSLError) or "CERTIFICATE" in str(reason).upper():
            return (
                f"{what}: TLS verification failed ({reason}): give the CA that signed the registry's certificate "
                "(image_fetch_push_ca_path), or check the registry's host name"
            )
        return f"{what}: cannot reach the registry ({reason}): is it running, and is the URL right?"

    def request(self, method, path_or_url, headers=None, body=None, expect=(200,)):
        """One request, authenticating once on 401; ``body`` is bytes or a callable returning a fresh body."""
        url = path_or_url if "://" in path_or_url else self.url + path_or_url
        for attempt in (1, 2):
            data = body() if callable(body) else body
            try:
                response = self._open(method, url, headers, data)
            finally:
                if hasattr(data, "close"):
                    data.close()
            status = response.getcode()
            if status == 401 and attempt == 1:
                self._authenticate(response.headers.get("WWW-Authenticate", ""), url)
                continue
            if status in expect:
                return response
            raise self._error(self._refusal(method, url, response))
        raise self._error("unreachable")  # pragma: no cover

    def _refusal(self, method, url, response):
        detail = _registry_errors(response.read(65536)) or f"HTTP {response.getcode()}"
        what = f"{method} {urlsplit(url).path} was refused ({detail})"
        if response.getcode() == 401:
            return f"{what}: check image_fetch_push_username and image_fetch_push_password"
        if response.getcode() == 403:
            return f"{what}: the user may not push to this repository"
        return f"{what}: check the registry's log"

    def _authenticate(self, challenge, url):
        scheme, params = (challenge.split(" ", 1) + [""])[:2]
        if scheme.lower() == "basic":
            if self.username is None:
                raise self._error(_NEEDS_CREDENTIALS)
            pair = f"{self.username}:{self._password}".encode()
            self._authorization = "Basic " + base64.b64encode(pair).decode("ascii")
        elif scheme.lower() == "bearer":
            self._authorization = "Bearer " + self._token(dict(_CHALLENGE_RE.findall(params)))
        else:
            raise self._error(
                f"the registry asks for the unsupported authentication scheme {scheme!r}: use basic or token auth"
            )

    def _token(self, challenge):
        realm = challenge.get("realm", "")
        if not realm.startswith(("https://", "http://")) or (
            realm.startswith("http://") and self.url.startswith("https://")
        ):
            raise self._error("the registry's token realm is not an https URL: refusing to send credentials there")
        scopes = challenge.get("scope", "").split() + [f"repository:{self._repository}:pull,push"]
        query = urlencode([("service", challenge.get("service", ""))] + [("scope", s) for s in scopes])
        headers = {}
        if self.username is not None:
            pair = f"{self.username}:{self._password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        response = self._open("GET", f"{realm}{'&' if '?' in realm else '?'}{query}", headers, authorize=False)
        if response.getcode() in (401, 403) and self.username is None:
            raise self._error(_NEEDS_CREDENTIALS)
        if response.getcode() != 200:
            raise self._error(
                f"the token server refused the credentials (HTTP {response.getcode()}): "
                "check image_fetch_push_username and image_fetch_push_password"
            )
        try:
            document = json.loads(response.read(1024 * 1024))
            return document.get("token") or document["access_token"]
        except (ValueError, KeyError, AttributeError):
            raise self._error("the token server's answer holds no token") from None

    def manifest_digest(self, repository, tag, media_type):
        """The digest the registry has under ``repository:tag`` (None when the tag is absent)."""
        self._repository, self._target = repository, self._target or f"{repository}:{tag}"
        response = self.request(
            "HEAD", f"/v2/{self._repository}/manifests/{_reference(tag)}", {"Accept": media_type}, expect=(200, 404)
        )
        if response.getcode() != 200:
            return None
        if response.headers.get("Docker-Content-Digest"):
            return response.headers["Docker-Content-Digest"]
        # Not every registry sends the header: the digest of the bytes it serves is the same answer.
        response = self.request("GET", f"/v2/{repository}/manifests/{_reference(tag)}", {"Accept": media_type})
        return digest_of(response.read(MAX_MANIFEST_BYTES + 1))

    def has_blob(self, digest):
        """Whether the repository has the blob (a redirect to storage counts as present)."""
        response = self.request("HEAD", f"/v2/{self._repository}/blobs/{digest}", expect=(200, 307, 404))
        if response.getcode() == 404:
            return False
        self._seen[digest] = self._repository
        return True

    def upload_blob(self, image, blob):
        """Send one blob: mounted from another repository of this registry that this client saw holding it,
        else one PUT up to the chunk size, PATCH chunks above it. Returns ``"mounted"`` or ``"uploaded"``."""
        digest, size = blob["digest"], blob["size"]
        location = self._start_upload(digest)
        if location is None:
            return "mounted"
        if size <= self.chunk_size:
            headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
            self.request(
                "PUT", self._with_digest(location, digest), headers, lambda: image.open_blob(digest), expect=(201,)
            )
            self._seen[digest] = self._repository
            return "uploaded"
        offset = 0
        with image.open_blob(digest) as source:
            while offset < size:
                chunk = source.read(min(self.chunk_size, size - offset))
                if not chunk:
                    raise self._error(f"blob {digest} ended after {offset} of its {size} bytes: the layout is damaged")
                headers = {
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(len(chunk)),
                    "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                }
                location = self._location(self.request("PATCH", location, headers, chunk, expect=(202,)), location)
                offset += len(chunk)
        self.request("PUT", self._with_digest(location, digest), {"Content-Length": "0"}, b"", expect=(201,))
        self._seen[digest] = self._repository
        return "uploaded"

    def _start_upload(self, digest):
        """The upload's Location, or None when the registry mounted the blob from another repository."""
        source = self._seen.get(digest)
        query = "" if source in (None, self._repository) else "?" + urlencode({"mount": digest, "from": source})
        response = self.request(
            "POST", f"/v2/{self._repository}/blobs/uploads/{query}", {"Content-Length": "0"}, b"", expect=(201, 202)
        )
        if response.getcode() == 201:
            self._seen[digest] = self._repository
            return None
        return self._location(response, None)

    def _location(self, response, previous):
        location = response.headers.get("Location")
        if not location:
            if previous:
                return previous
            raise self._error(
                "the registry started an upload without a Location: it does not speak the distribution API"
            )
        location = urljoin(self.url + "/", location)
        if not self._same_origin(location):
            raise self._error("the registry sent the upload elsewhere (another host): not supported")
        return location

    @staticmethod
    def _with_digest(location, digest):
        return f"{location}{'&' if '?' in location else '?'}digest={quote(digest)}"

    def _plan(self, image, tag):
        """``(present_digest, missing_blobs)`` for pushing ``image`` as ``tag``."""
        present = self.manifest_digest(self._repository, tag, image.media_type)
        if present == image.digest:
            # The repository holds the manifest, so it holds its blobs: a later image may mount them from here.
            for blob in image.blobs():
                self._seen.setdefault(blob["digest"], self._repository)
            return present, []
        return present, [blob for blob in image.blobs() if not self.has_blob(blob["digest"])]

    def push(self, image, repository, tag, check_mode=False):
        """Push ``image`` (a RuntimeImage) as ``repository:tag``, or by digest when ``tag`` is its digest."""
        if not isinstance(repository, str) or not REPOSITORY_RE.fullmatch(repository) or len(repository) > 255:
            raise ImageInputError(
                f"repository {repository!r} is not a registry repository name: lowercase path components "
                "separated by '/', for example 'team/app'"
            )
        if not isinstance(tag, str) or not (TAG_RE.fullmatch(tag) or tag == image.digest):
            raise ImageInputError(
                f"tag {tag!r} is not a valid tag: up to 128 letters, digits, '_', '.' or '-' (or the image's digest)"
            )
        self._repository, self._target = repository, f"{repository}{'@' if tag == image.digest else ':'}{tag}"
        present, missing = self._plan(image, tag)
        actions = [] if present == image.digest else [f"upload {len(missing)} blob(s)", f"put manifest {image.digest}"]
        sent = {"uploaded": [], "mounted": []}
        if actions and not check_mode:
            for blob in missing:
                sent[self.upload_blob(image, blob)].append(blob["digest"])
            self._put_manifest(image, tag)
        return result(
            "registry",
            image,
            bool(actions),
            actions,
            check_mode,
            registry=self.url,
            pushed_as=self._target,
            uploaded=sent["uploaded"],
            mounted=sent["mounted"],
            missing=[b["digest"] for b in missing],
        )

    def _put_manifest(self, image, tag):
        headers = {"Content-Type": image.media_type, "Content-Length": str(len(image.manifest))}
        response = self.request(
            "PUT", f"/v2/{self._repository}/manifests/{_reference(tag)}", headers, image.manifest, expect=(201, 200)
        )
        reported = response.headers.get("Docker-Content-Digest")
        if reported and reported != image.digest:
            raise self._error(
                f"the registry stored the manifest as {reported}, not ECR's {image.digest}: "
                "it rewrote the manifest; use a registry that keeps manifests byte for byte"
            )
        if self.manifest_digest(self._repository, tag, image.media_type) != image.digest:
            raise self._error(f"after the push, {tag} does not name {image.digest}: check the registry's log")
