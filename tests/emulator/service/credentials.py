# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The emulator's credentials: the one table the server checks and every test, benchmark and script uses.

Standard library only: the server, the harness (also run as a script) and tests/support import it.
"""

# Known to --auth. "full": may do everything; "expired": always ExpiredTokenException;
# "denied": authenticates, then AccessDeniedException for every ECR action.
CREDENTIALS = {
    "AKIAEMULATOR00000001": {"secret": "emulator-secret-key-0001", "token": None, "kind": "full"},
    "ASIAEMULATOR00000002": {
        "secret": "emulator-secret-key-0002",
        "token": "emulator-session-token-0002",
        "kind": "full",
    },
    "ASIAEMULATOR00000003": {
        "secret": "emulator-secret-key-0003",
        "token": "emulator-expired-token-0003",
        "kind": "expired",
    },
    "AKIAEMULATOR00000004": {
        "secret": "emulator-secret-key-0004",
        "token": None,
        "kind": "denied",
        "user": "emulator-denied",
    },
}
FULL_ACCESS_KEY = "AKIAEMULATOR00000001"

# The emulator's own key pair, used only to sign and verify the pre-signed blob URLs it hands out.
INTERNAL_ACCESS_KEY = "AKIAEMULATORINTERNAL"
INTERNAL_SECRET_KEY = "emulator-internal-presign-secret"


def _credential_set(access_key):
    known = CREDENTIALS[access_key]
    values = {"aws_access_key_id": access_key, "aws_secret_access_key": known["secret"]}
    if known["token"]:
        values["aws_session_token"] = known["token"]
    return values


# As boto3 client() keyword arguments.
FULL_ACCESS = _credential_set("AKIAEMULATOR00000001")
SESSION = _credential_set("ASIAEMULATOR00000002")
EXPIRED = _credential_set("ASIAEMULATOR00000003")
DENIED = _credential_set("AKIAEMULATOR00000004")

ENVIRONMENT_NAMES = {
    "aws_access_key_id": "AWS_ACCESS_KEY_ID",
    "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "aws_session_token": "AWS_SESSION_TOKEN",
}
OPTION_NAMES = {
    "aws_access_key_id": "access_key",
    "aws_secret_access_key": "secret_key",
    "aws_session_token": "session_token",
}


def environment(values=None):
    """A credential set (FULL_ACCESS by default) as AWS_* environment variables."""
    return {ENVIRONMENT_NAMES[name]: value for name, value in (values or FULL_ACCESS).items()}


def module_options(values=None):
    """A credential set (FULL_ACCESS by default) as the AWS options of this collection's modules."""
    return {OPTION_NAMES[name]: value for name, value in (values or FULL_ACCESS).items()}
