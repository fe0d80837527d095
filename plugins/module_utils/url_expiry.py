# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""When a pre-signed URL stops working, read from the URL itself.

A SigV4 pre-signed URL carries ``X-Amz-Date`` (when it was signed, ``YYYYMMDDTHHMMSSZ``)
and ``X-Amz-Expires`` (its lifetime in seconds); a SigV2 one carries ``Expires`` (epoch
seconds). Nothing is sent anywhere: this only parses the query string.
"""

import datetime
from urllib.parse import parse_qs
from urllib.parse import urlsplit

_SIGV4_DATE_FORMAT = "%Y%m%dT%H%M%SZ"


def _single(query, name):
    # Query parameter names are case-sensitive in SigV4, but tolerate other casings.
    for key, values in query.items():
        if key.lower() == name.lower() and values:
            return values[0]
    return None


def url_expiry(url):
    """Return the aware UTC datetime at which ``url`` expires, or None when it does not say."""
    if not url:
        return None
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    signed_at = _single(query, "X-Amz-Date")
    lifetime = _single(query, "X-Amz-Expires")
    if signed_at is not None and lifetime is not None:
        try:
            start = datetime.datetime.strptime(signed_at, _SIGV4_DATE_FORMAT).replace(tzinfo=datetime.timezone.utc)
            return start + datetime.timedelta(seconds=int(lifetime))
        except (ValueError, OverflowError):
            return None
    epoch = _single(query, "Expires")
    if epoch is not None:
        try:
            return datetime.datetime.fromtimestamp(int(epoch), tz=datetime.timezone.utc)
        except (ValueError, OverflowError, OSError):
            return None
    return None


def format_timestamp(moment):
    """ISO 8601 in UTC with a ``Z`` suffix and whole seconds, or None."""
    if moment is None:
        return None
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def url_expires_at(url):
    """``url_expiry`` formatted as ISO 8601 UTC, e.g. ``2019-08-14T23:06:17Z``; None when unknown."""
    return format_timestamp(url_expiry(url))
