# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the target modules (blob_fetch, oci_layout) share: their module class, the download options and their checks.

The ``blobs`` option is declared entry by entry, with the URL ``no_log``, so ansible-core masks
every URL in the invocation and in the results itself. ``TargetModule`` masks, besides, every
URL-like string of the raw arguments, so that a URL under a misspelt option name or of a wrong
type is masked too when ansible-core rejects the arguments. ``download_request()`` checks the
options before any request; ``download()`` runs the downloader into a layout. Runs on target
hosts: standard library and ``ansible.module_utils`` only.
"""

import re
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.ecr.plugins.module_utils.download_batch import fetch_blobs
from ansible_collections.airgap.ecr.plugins.module_utils.download_http import DEFAULT_TIMEOUT
from ansible_collections.airgap.ecr.plugins.module_utils.download_http import OPENER_OPTIONS
from ansible_collections.airgap.ecr.plugins.module_utils.download_http import http_origin
from ansible_collections.airgap.ecr.plugins.module_utils.download_http import scrub
from ansible_collections.airgap.ecr.plugins.module_utils.download_http import url_opener
from ansible_collections.airgap.ecr.plugins.module_utils.downloader import DEFAULT_CONCURRENCY
from ansible_collections.airgap.ecr.plugins.module_utils.downloader import DEFAULT_DEADLINE
from ansible_collections.airgap.ecr.plugins.module_utils.downloader import DEFAULT_MAX_SIZE
from ansible_collections.airgap.ecr.plugins.module_utils.downloader import DEFAULT_RANGE_SIZE
from ansible_collections.airgap.ecr.plugins.module_utils.downloader import DEFAULT_RANGE_THRESHOLD
from ansible_collections.airgap.ecr.plugins.module_utils.downloader import DEFAULT_RETRIES
from ansible_collections.airgap.ecr.plugins.module_utils.downloader import MAX_CONCURRENCY
from ansible_collections.airgap.ecr.plugins.module_utils.downloader import MAX_RETRIES
from ansible_collections.airgap.ecr.plugins.module_utils.downloader import STATUS_FETCHED
from ansible_collections.airgap.ecr.plugins.module_utils.downloader import STATUS_PRESENT
from ansible_collections.airgap.ecr.plugins.module_utils.validation import ValidationError
from ansible_collections.airgap.ecr.plugins.module_utils.validation import validate_concurrency
from ansible_collections.airgap.ecr.plugins.module_utils.validation import validate_digest

# One entry of ``blobs`` (documented in the airgap.ecr.blob_download fragment). The keys that
# ecr_image_layers and ecr_layer_url return besides these are accepted and ignored, so that their
# items can be given as they are.
BLOB_ENTRY_SPEC = dict(
    digest=dict(type="str"),
    layer_digest=dict(type="str"),
    url=dict(type="str", no_log=True),
    download_url=dict(type="str", no_log=True),
    size=dict(type="raw"),
    media_type=dict(type="str"),
    expires_at=dict(type="str"),
    foreign=dict(type="bool"),
    urls=dict(type="list", elements="str"),
)

# The download options of blob_fetch and oci_layout (documented in the airgap.ecr.blob_download fragment).
DOWNLOAD_ARGUMENT_SPEC = dict(
    concurrency=dict(type="int", default=DEFAULT_CONCURRENCY),
    retries=dict(type="int", default=DEFAULT_RETRIES),
    timeout=dict(type="int", default=DEFAULT_TIMEOUT),
    headers=dict(type="dict"),
    validate_certs=dict(type="bool", default=True),
    use_proxy=dict(type="bool", default=True),
    client_cert=dict(type="path"),
    client_key=dict(type="path", no_log=False),
    ca_path=dict(type="path"),
    allow_http=dict(type="bool", default=False),
    http_origins=dict(type="list", elements="str"),
    max_size=dict(type="int", default=DEFAULT_MAX_SIZE),
    deadline=dict(type="int", default=DEFAULT_DEADLINE),
    range_threshold=dict(type="int", default=DEFAULT_RANGE_THRESHOLD),
    range_size=dict(type="int", default=DEFAULT_RANGE_SIZE),
)
# The smallest part of a ranged download (range_size).
MIN_RANGE_SIZE = 1024**2

# A string that holds a URL or a request signature: masked wherever it appears in the arguments.
_SECRET_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://|X-Amz-|Signature=|AWSAccessKeyId=", re.IGNORECASE)
_DICT_REQUESTED = "dictionary requested"


def _secret_strings(value):
    """Every string in ``value`` (nested dicts and lists, keys too) that looks like a URL or carries a signature."""
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in _secret_strings(key) + _secret_strings(item)]
    if isinstance(value, (list, tuple)):
        return [found for item in value for found in _secret_strings(item)]
    return [value] if isinstance(value, str) and _SECRET_RE.search(value) else []


def _scrubbed_keys(value):
    """``value`` with every dict key that looks like a URL or carries a signature scrubbed."""
    if isinstance(value, dict):
        return {
            (scrub(key) if isinstance(key, str) and _SECRET_RE.search(key) else key): _scrubbed_keys(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_scrubbed_keys(item) for item in value]
    return value


class TargetModule(AnsibleModule):
    """AnsibleModule for blob_fetch and oci_layout: no URL in any result, whatever fails.

    ansible-core masks the declared ``no_log`` suboptions, but only those it could match: a URL
    under a misspelt key (``urll:``), of a wrong type, or next to a missing option is returned in
    ``invocation.module_args`` of the failure, and a string entry of ``blobs`` that holds a ``=``
    becomes an option name in the message. Every result passes through ``exit_json`` or
    ``fail_json``, where every URL-like string of the arguments joins ``no_log_values`` first, and a
    failure's message is scrubbed of URLs and signatures.
    """

    def _mask_secrets(self):
        self.no_log_values.update(_secret_strings(self.params))
        # A URL can also be a key: ansible-core reads a string entry holding '=' as key=value pairs.
        self.params = _scrubbed_keys(self.params)

    def exit_json(self, **kwargs):
        self._mask_secrets()
        super().exit_json(**kwargs)

    def fail_json(self, msg, **kwargs):  # pylint: disable=arguments-differ
        self._mask_secrets()
        msg = scrub(msg)
        if _DICT_REQUESTED in msg and not msg.startswith("argument "):
            # ansible-core's message for an entry of a list of dicts that is not one; blobs is that list here.
            msg = f"every entry of blobs must be a dict with a digest and a url, and one is not ({msg})"
        elif msg.startswith("Unsupported parameters") and "<url>" in msg:
            # A string entry holding '=' (a URL) was read as key=value pairs.
            msg = f"every entry of blobs must be a dict with a digest and a url, and one is a URL string ({msg})"
        super().fail_json(msg, **kwargs)


def blobs_option():
    """The argument spec of the ``blobs`` option.

    blob_fetch requires it: ``normalize_blobs`` says so when it is missing.
    """
    return dict(type="list", elements="dict", options=BLOB_ENTRY_SPEC)


def _size_value(value, where):
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(
            f"{where}.size {value!r} is not a size: give the blob's size in bytes, an integer of 0 or more"
        )
    return value


def _one_of(entry, names, where):
    """The value under the first of ``names`` that is set; two different values are an error."""
    found = [(name, entry.get(name)) for name in names if entry.get(name) not in (None, "")]
    if len(found) > 1 and found[0][1] != found[1][1]:
        raise ValidationError(
            f"{where} has both {found[0][0]} and {found[1][0]}, with different values: give one of them"
        )
    return found[0][1] if found else None


def _url_value(value, where, digest):
    if value is None:
        return None
    # The URL is a credential: the messages name the entry and its digest, never the URL.
    if not isinstance(value, str):
        raise ValidationError(f"{where}.url (for {digest}) must be a string, got a {type(value).__name__}")
    try:
        parts = urlsplit(value)
        _port = parts.port  # raises ValueError for a port out of range
    except ValueError as e:
        # The error's text may quote the URL: only its kind is told.
        raise ValidationError(
            f"{where}.url (for {digest}) is not a valid URL ({str(e).split(':', maxsplit=1)[0]})"
        ) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValidationError(f"{where}.url (for {digest}) is not an http:// or https:// URL")
    return value


def normalize_blobs(entries):
    """Validate ``blobs`` and return ``[{"index", "digest", "url", "size"}]`` without duplicate digests.

    Each entry is a dict with ``digest`` (or ``layer_digest``), ``url`` (or ``download_url``) and
    an optional ``size``; other keys (``media_type``, ``expires_at``, ...) are ignored. Entries
    with the same digest are merged: the first URL given is used, and their sizes must agree.
    Every problem is reported, with the entry's position; raises ValidationError.
    """
    if not isinstance(entries, (list, tuple)) or not entries:
        raise ValidationError("blobs is empty: give at least one blob, a dict with a digest and a url")
    problems = []
    merged = {}
    for index, entry in enumerate(entries):
        where = f"blobs[{index}]"
        if not isinstance(entry, dict):
            problems.append(f"{where} must be a dict with a digest and a url, got a {type(entry).__name__}")
            continue
        try:
            digest = _one_of(entry, ("digest", "layer_digest"), where)
            if digest is None:
                raise ValidationError(
                    f"{where} has no digest: give digest, for example 'sha256:' followed by 64 hexadecimal characters"
                )
            validate_digest(digest, option=f"{where}.digest")
            url = _url_value(_one_of(entry, ("url", "download_url"), where), where, digest)
            size = _size_value(entry.get("size"), where)
        except ValidationError as e:
            problems.append(str(e))
            continue
        blob = merged.get(digest)
        if blob is None:
            merged[digest] = dict(index=index, digest=digest, url=url, size=size)
            continue
        if size is not None and blob["size"] is not None and size != blob["size"]:
            problems.append(
                f"{where}.size {size} differs from the size {blob['size']} "
                f"of the same digest {digest} in blobs[{blob['index']}]"
            )
            continue
        if blob["url"] is None:
            blob["url"] = url
        if blob["size"] is None:
            blob["size"] = size
    if problems:
        raise ValidationError("; ".join(problems))
    return list(merged.values())


def _check_range(params, name, minimum, meaning):
    if params[name] < minimum:
        raise ValidationError(f"{name} {params[name]!r} is out of range: it must be {meaning}")


def download_request(params):
    """The normalised blobs and the concurrency of a module's parameters, checked; raises ValidationError."""
    blobs = normalize_blobs(params["blobs"])
    concurrency = validate_concurrency(params["concurrency"], maximum=MAX_CONCURRENCY)
    if not 0 <= params["retries"] <= MAX_RETRIES:
        raise ValidationError(
            f"retries {params['retries']!r} is out of range: it must be an integer from 0 to {MAX_RETRIES}"
        )
    _check_range(params, "timeout", 1, "at least 1 second")
    _check_range(params, "deadline", 1, "at least 1 second")
    _check_range(params, "max_size", 0, "a number of bytes, 0 or more")
    _check_range(params, "range_threshold", 0, "a number of bytes, 0 or more (0: never fetch ranges)")
    _check_range(params, "range_size", MIN_RANGE_SIZE, f"a number of bytes, at least {MIN_RANGE_SIZE}")
    origins = http_origins(params.get("http_origins"))
    if not params["allow_http"]:
        plain = [
            f"blobs[{blob['index']}].url (for {blob['digest']})"
            for blob in blobs
            if _is_http(blob["url"]) and http_origin(blob["url"]) not in origins
        ]
        if plain:
            raise ValidationError(
                ", ".join(plain) + " is a plain http URL, which is refused: use https URLs, or set allow_http to true "
                "for a test endpoint on a trusted network (or list a relay's origin in http_origins)"
            )
    return blobs, concurrency


def http_origins(values):
    """The checked ``http_origins``, as ``http_origin()`` tuples; raises ValidationError naming a bad entry."""
    origins = set()
    for index, value in enumerate(values or ()):
        try:
            parts = urlsplit(value) if isinstance(value, str) else None
            valid = parts and parts.scheme == "http" and parts.hostname and parts.path in ("", "/")
            valid = valid and not (parts.query or parts.fragment or parts.username) and parts.port != 0
        except ValueError:
            valid = False
        if not valid:
            raise ValidationError(
                f"http_origins[{index}] {value!r} is not an origin: give http://<host>:<port>, without a path"
            )
        origins.add(http_origin(value))
    return origins


def _is_http(url):
    return bool(url) and urlsplit(url).scheme.lower() == "http"


def download(params, blobs, concurrency, layout, check_mode):
    """``fetch_blobs()`` into ``layout`` with the opener, retries and limits the module's download options ask for."""
    try:
        opener = url_opener(**{name: params[name] for name in OPENER_OPTIONS})
    except (OSError, ValueError) as e:  # ssl.SSLError is an OSError
        raise ValidationError(f"ca_path, client_cert or client_key cannot be used: {type(e).__name__}: {e}") from None
    limits = {name: params[name] for name in ("max_size", "deadline", "range_threshold", "range_size")}
    return fetch_blobs(
        opener, blobs, layout, concurrency=concurrency, retries=params["retries"], check_mode=check_mode, limits=limits
    )


def set_file_attributes(module, result):
    """Apply the module's file attribute options to every blob file in place; True when anything changed."""
    changed = False
    for blob in result["blobs"]:
        if blob["status"] in (STATUS_FETCHED, STATUS_PRESENT):
            file_args = module.load_file_common_arguments(module.params, path=blob["path"])
            changed = module.set_fs_attributes_if_different(file_args, changed)
    return changed
