# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SigV4: ECR requests signed with the emulator's credentials (--auth), and the pre-signed blob URLs."""

import calendar
import hmac
import re
import time
from urllib.parse import parse_qsl
from urllib.parse import quote
from urllib.parse import unquote

from botocore.auth import S3SigV4QueryAuth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.awsrequest import HTTPHeaders
from botocore.credentials import Credentials

from .common import ACCOUNT_ID
from .common import ApiError
from .common import iso_date
from .common import utcnow_epoch
from .credentials import CREDENTIALS
from .credentials import INTERNAL_ACCESS_KEY
from .credentials import INTERNAL_SECRET_KEY

SIGV4_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_CLOCK_SKEW = 15 * 60
INVALID_TOKEN_MESSAGE = "The security token included in the request is invalid."

# Status codes of ECR's authentication / authorization errors.
AUTH_ERROR_STATUS = {
    "MissingAuthenticationTokenException": 403,
    "UnrecognizedClientException": 403,
    "InvalidSignatureException": 403,
    "IncompleteSignatureException": 400,
    "ExpiredTokenException": 400,
    "AccessDeniedException": 400,
}


def parse_sigv4_time(value):
    """Epoch seconds of a SigV4 timestamp (YYYYMMDDTHHMMSSZ), or None."""
    try:
        return calendar.timegm(time.strptime(value, SIGV4_TIME_FORMAT))
    except (TypeError, ValueError):
        return None


def parse_authorization(header):
    """Split a SigV4 Authorization header into its parts, or raise IncompleteSignatureException."""
    scheme, rest = (header or "").strip().partition(" ")[::2]
    fields = {}
    for item in rest.split(","):
        name, value = item.strip().partition("=")[::2]
        fields[name] = value
    scope = fields.get("Credential", "").split("/")
    if (
        scheme != "AWS4-HMAC-SHA256"
        or len(scope) != 5
        or not fields.get("SignedHeaders")
        or not fields.get("Signature")
    ):
        raise ApiError(
            "IncompleteSignatureException",
            "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters "
            f"(AWS4-HMAC-SHA256). Authorization={header}",
            400,
        )
    return {
        "access_key": scope[0],
        "date": scope[1],
        "region": scope[2],
        "service": scope[3],
        "signed_headers": fields["SignedHeaders"].split(";"),
        "signature": fields["Signature"],
    }


def access_key_of(request):
    """The access key id a request is signed with (header or query auth), or None."""
    header = request.headers.get("Authorization", "")
    match = re.search(r"Credential=([^/,\s]+)/", header)
    if match:
        return match.group(1)
    credential = request.args.get("X-Amz-Credential")
    if credential:
        return credential.split("/", 1)[0]
    return None


def raw_path_and_query(request):
    """The request target exactly as the client sent it (before any percent-decoding)."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if not raw:
        raw = request.environ.get("PATH_INFO", "/")
        if request.environ.get("QUERY_STRING"):
            raw += "?" + request.environ["QUERY_STRING"]
    return tuple(raw.partition("?")[::2])


def signed_request(request, signed_headers, url, body=b"", params=None):
    """Rebuild the request a client signed, as a botocore AWSRequest holding only the signed headers."""
    headers = HTTPHeaders()
    for name in signed_headers:
        value = request.headers.get(name)
        if value is None:
            return None
        headers[name] = value
    return AWSRequest(method=request.method, url=url, headers=headers, data=body, params=params)


def authenticate(request, body, operation, params):
    header = request.headers.get("Authorization")
    if not header:
        raise ApiError("MissingAuthenticationTokenException", "Missing Authentication Token", 403)
    auth = parse_authorization(header)
    known = CREDENTIALS.get(auth["access_key"])
    if known is None:
        raise ApiError(
            "UnrecognizedClientException", INVALID_TOKEN_MESSAGE, AUTH_ERROR_STATUS["UnrecognizedClientException"]
        )
    if known["kind"] == "expired":
        raise ApiError(
            "ExpiredTokenException",
            "The security token included in the request is expired",
            AUTH_ERROR_STATUS["ExpiredTokenException"],
        )
    token = request.headers.get("X-Amz-Security-Token")
    if token != known["token"]:
        raise ApiError(
            "UnrecognizedClientException", INVALID_TOKEN_MESSAGE, AUTH_ERROR_STATUS["UnrecognizedClientException"]
        )
    amz_date = request.headers.get("X-Amz-Date")
    signed_at = parse_sigv4_time(amz_date)
    if signed_at is None:
        raise ApiError(
            "IncompleteSignatureException",
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
            400,
        )
    if not signature_matches(request, body, auth, known["secret"], token, amz_date):
        raise ApiError(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
            "Access Key and signing method. "
            "Consult the service documentation for details.",
            AUTH_ERROR_STATUS["InvalidSignatureException"],
        )
    now = utcnow_epoch()
    if abs(now - signed_at) > MAX_CLOCK_SKEW:
        raise ApiError(
            "InvalidSignatureException",
            f"Signature expired: {amz_date} is now earlier than "
            f"{time.strftime(SIGV4_TIME_FORMAT, time.gmtime(now - MAX_CLOCK_SKEW))} "
            f"({time.strftime(SIGV4_TIME_FORMAT, time.gmtime(now))} - 15 min.)",
            AUTH_ERROR_STATUS["InvalidSignatureException"],
        )
    if known["kind"] == "denied":
        if params.get("repositoryName"):
            registry = params.get("registryId") or ACCOUNT_ID
            resource = f"arn:aws:ecr:{auth['region']}:{registry}:repository/{params['repositoryName']}"
        elif operation == "GetAuthorizationToken":
            resource = "*"
        else:
            resource = f"arn:aws:ecr:{auth['region']}:{ACCOUNT_ID}:repository/*"
        raise ApiError(
            "AccessDeniedException",
            f"User: arn:aws:iam::{ACCOUNT_ID}:user/{known['user']} is not authorized to perform: ecr:{operation} on "
            f"resource: {resource} "
            f"because no identity-based policy allows the ecr:{operation} action",
            AUTH_ERROR_STATUS["AccessDeniedException"],
        )


def signature_matches(request, body, auth, secret, token, amz_date):
    """Recompute the SigV4 header signature with botocore from the request as received."""
    path, query = raw_path_and_query(request)
    url = f"http://{request.headers.get('Host', '')}{path}" + (f"?{query}" if query else "")
    aws_request = signed_request(request, auth["signed_headers"], url, body)
    if aws_request is None:
        return False
    aws_request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(auth["access_key"], secret, token), auth["service"], auth["region"])
    canonical = signer.canonical_request(aws_request)
    expected = signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)
    return hmac.compare_digest(expected, auth["signature"])


def check_presigned(request):
    args = request.args
    required = (
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Signature",
        "X-Amz-Date",
        "X-Amz-SignedHeaders",
        "X-Amz-Expires",
    )
    if any(not args.get(name) for name in required):
        raise ApiError(
            "AuthorizationQueryParametersError",
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, "
            "X-Amz-Date, X-Amz-SignedHeaders, "
            "and X-Amz-Expires parameters.",
        )
    if args["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256":
        raise ApiError("AuthorizationQueryParametersError", 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
    scope = args["X-Amz-Credential"].split("/")
    if len(scope) != 5:
        raise ApiError(
            "AuthorizationQueryParametersError",
            "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed.",
        )
    if scope[0] != INTERNAL_ACCESS_KEY:
        raise ApiError(
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
            403,
            {"AWSAccessKeyId": scope[0]},
        )
    signed_at = parse_sigv4_time(args["X-Amz-Date"])
    expires = args["X-Amz-Expires"]
    if signed_at is None or not expires.isdigit():
        raise ApiError(
            "AuthorizationQueryParametersError",
            "X-Amz-Date / X-Amz-Expires must be a SigV4 timestamp and a number of seconds.",
        )
    path, query = raw_path_and_query(request)
    # Canonicalise path and query the way S3 does, whatever percent-encoding the client chose.
    url = f"http://{request.headers.get('Host', '')}{quote(unquote(path), safe='/~')}"
    params = [(name, value) for name, value in parse_qsl(query, keep_blank_values=True) if name != "X-Amz-Signature"]
    aws_request = signed_request(request, args["X-Amz-SignedHeaders"].split(";"), url, params=params)
    expected = None
    if aws_request is not None:
        aws_request.context["timestamp"] = args["X-Amz-Date"]
        signer = S3SigV4QueryAuth(
            Credentials(INTERNAL_ACCESS_KEY, INTERNAL_SECRET_KEY), scope[3], scope[2], expires=int(expires)
        )
        canonical = signer.canonical_request(aws_request)
        string_to_sign = signer.string_to_sign(aws_request, canonical)
        expected = signer.signature(string_to_sign, aws_request)
    if expected is None or not hmac.compare_digest(expected, args["X-Amz-Signature"]):
        raise ApiError(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and "
            "signing method.",
            403,
            {"AWSAccessKeyId": scope[0], "SignatureProvided": args["X-Amz-Signature"]},
        )
    now = utcnow_epoch()
    if now > signed_at + int(expires):
        raise ApiError(
            "AccessDenied",
            "Request has expired",
            403,
            {"X-Amz-Expires": expires, "Expires": iso_date(signed_at + int(expires)), "ServerTime": iso_date(now)},
        )
