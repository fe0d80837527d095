# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The controller side's one scrubber of AWS credentials in text that reaches a person.

AWS error messages can carry secrets: an ``InvalidSignatureException`` from a JSON API
quotes the canonical request, with its ``x-amz-security-token`` header; a pre-signed URL
carries ``X-Amz-Credential``, ``X-Amz-Signature`` and ``X-Amz-Security-Token``; botocore's
debug text has ``Authorization: ... Credential=..., Signature=...``. Every message the
modules and the lookup build from AWS text goes through ``redact`` (the modules' failures
through ``redact_all``), which replaces the value of each of those with ``<hidden>``, and
also access key ids, anything that looks like a secret access key or a session token,
and the exact secret values the caller configured.
"""

import re

HIDDEN = "<hidden>"

# "name=value" and "name: value" forms, with or without whitespace after the separator, in a URL query,
# a header line of a canonical request, an Authorization header or a JSON document. The value ends at
# whitespace or at a character that cannot be part of it.
_NAMED_RE = re.compile(
    r"""(?P<name>x-amz-security-token|x-amz-signature|x-amz-credential|security[-_]?token|session[-_]?token"""
    r"""|secret[-_]?access[-_]?key|aws[-_]?secret[-_]?access[-_]?key|secret[-_]?key|signature|credential"""
    r"""|awsaccesskeyid|access[-_]?key[-_]?id)(?P<quote>["']?)(?P<sep>\s*[=:]\s*["']?)(?P<value>[^\s&,;"'<>]+)""",
    re.IGNORECASE,
)
# AWS access key ids: AKIA (long-term) and ASIA (temporary), and the other documented unique-id prefixes.
_KEY_ID_RE = re.compile(r"\b(?:AKIA|ASIA|AIDA|AROA|ANPA|ANVA|AGPA|AIPA|APKA)[A-Z0-9]{12,}\b")
# A secret access key: 40 characters of base64 with both cases (hex digests, all lowercase, are not).
_SECRET_RE = re.compile(
    r"(?<![A-Za-z0-9/+])(?=[A-Za-z0-9/+]*[a-z])(?=[A-Za-z0-9/+]*[A-Z])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
)
# A session token: a long run of base64 (often URL-encoded) with both cases.
_TOKEN_RE = re.compile(r"(?=[A-Za-z0-9/+=%]*[a-z])(?=[A-Za-z0-9/+=%]*[A-Z])[A-Za-z0-9/+=%]{100,}")


def _hide_value(match):
    return match.group("name") + match.group("quote") + match.group("sep") + HIDDEN


def redact(text, secrets=()):
    """``text`` (made a string) with every credential, signature and token in it replaced by ``<hidden>``.

    ``secrets`` are values known to be secret (the configured secret key and session token):
    they are hidden wherever they appear, whatever their shape.
    """
    text = str(text)
    for secret in secrets:
        if isinstance(secret, str) and len(secret) >= 4:
            text = text.replace(secret, HIDDEN)
    text = _NAMED_RE.sub(_hide_value, text)
    text = _KEY_ID_RE.sub(HIDDEN, text)
    text = _TOKEN_RE.sub(HIDDEN, text)
    return _SECRET_RE.sub(HIDDEN, text)


def redact_all(value, secrets=()):
    """``value`` with ``redact`` applied to every string in it, through dicts, lists and tuples."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {key: redact_all(item, secrets) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_all(item, secrets) for item in value]
    return value
