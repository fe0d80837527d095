# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import pytest

from ansible_collections.airgap.ecr.plugins.module_utils.redaction import redact
from ansible_collections.airgap.ecr.plugins.module_utils.redaction import redact_all

TOKEN = (
    "IQoJb3JpZ2luX2VjEJr//////////wEaCWV1LXdlc3QtMSJHMEUCIQDxExampleSessionToken0123456789ABCDEFGHIJKLMNOPQRSTUV+abc=="
)
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SIGNATURE = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"


@pytest.mark.parametrize(
    "text, secret",
    [
        (f"canonical request\nx-amz-security-token:{TOKEN}\nx-amz-target:X", TOKEN),
        (f"x-amz-security-token: {TOKEN}", TOKEN),
        (f"https://b/k?X-Amz-Security-Token={TOKEN.replace('/', '%2F')}&X-Amz-Date=1", TOKEN.replace("/", "%2F")[:30]),
        (f"a token alone {TOKEN} in a sentence", TOKEN),
        ('{"SessionToken": "short-token-value"}', "short-token-value"),
        ("key AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE"),
        ("key ASIAEMULATOR00000002 used", "ASIAEMULATOR00000002"),
        (f"secret {SECRET} used", SECRET),
        (f"aws_secret_access_key = {SECRET}", SECRET),
        (f"X-Amz-Signature={SIGNATURE}&X-Amz-Date=1", SIGNATURE),
        (
            f"Credential=AKIDEXAMPLEKEY/20240101/eu-west-1/ecr/aws4_request, SignedHeaders=host, Signature={SIGNATURE}",
            SIGNATURE,
        ),
        ("Credential=AKIDEXAMPLEKEY/20240101/eu-west-1/ecr/aws4_request", "AKIDEXAMPLEKEY"),
        (f"X-Amz-Credential=AKIDEXAMPLEKEY%2F20240101%2Feu-west-1&X-Amz-Signature={SIGNATURE}", "AKIDEXAMPLEKEY"),
        (f"Signature= {SIGNATURE}", SIGNATURE),
        (f"X-Amz-Signature=\n  {SIGNATURE}", SIGNATURE),
        (f"Signature : {SIGNATURE[:20]}", SIGNATURE[:20]),
    ],
)
def test_credentials_tokens_and_signatures_are_hidden(text, secret):
    redacted = redact(text)
    assert secret not in redacted
    assert "<hidden>" in redacted


@pytest.mark.parametrize(
    "text",
    [
        "wrong secret key: the request signature does not match: the secret key does not belong to the access key id",
        "check access_key/secret_key/session_token, the profile, or the AWS_* environment variables",
        "LayersNotFoundException for sha256:" + "ab" * 32 + ", sha512:" + "cd" * 64,
        "Signature expired: 20240101T000000Z is now earlier than 20240101T001500Z",
        "X-Amz-Date=20190814T220617Z&X-Amz-Expires=3600",
        "repository 'team/app' in registry 123456789012, region eu-west-1",
    ],
)
def test_plain_text_is_kept(text):
    assert redact(text) == text


def test_known_secrets_are_hidden_whatever_their_shape():
    assert (
        redact("the token was tok-3 and s3cret!", secrets=["s3cret!", None, "", "tok"])
        == "the token was tok-3 and <hidden>"
    )


def test_redact_all_goes_through_containers():
    value = {
        "msg": f"Signature={SIGNATURE}",
        "failures": [{"error_message": f"x-amz-security-token:{TOKEN}"}],
        "n": 3,
        "t": ("AKIAIOSFODNN7EXAMPLE",),
    }
    redacted = redact_all(value)
    assert SIGNATURE not in str(redacted) and TOKEN not in str(redacted) and "AKIAIOSFODNN7EXAMPLE" not in str(redacted)
    assert redacted["n"] == 3 and redacted["msg"] == "Signature=<hidden>"
