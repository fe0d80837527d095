# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Credentials: each way of getting them wrong has its own clear message, and secrets never reach output or logs.

The emulator checks the SigV4 signature of every ECR request against its credential table
(tests/emulator/README.md).
"""

import os

import pytest

from ansible.errors import AnsibleError
from ansible.plugins.loader import lookup_loader

from ansible_collections.airgap.ecr.plugins.modules import ecr_image_layers
from ansible_collections.airgap.ecr.plugins.modules import ecr_layer_url
from ansible_collections.airgap.ecr.tests.reliability.conftest import DEMO
from ansible_collections.airgap.ecr.tests.reliability.conftest import REGION
from ansible_collections.airgap.ecr.tests.reliability.conftest import read_text
from ansible_collections.airgap.ecr.tests.reliability.conftest import role_play
from ansible_collections.airgap.ecr.tests.reliability.conftest import run_module
from ansible_collections.airgap.ecr.tests.reliability.conftest import verify_layout
from ansible_collections.airgap.ecr.tests.support.credentials import DENIED_OPTIONS as DENIED
from ansible_collections.airgap.ecr.tests.support.credentials import EXPIRED_OPTIONS as EXPIRED
from ansible_collections.airgap.ecr.tests.support.credentials import FULL_ACCESS_OPTIONS as FULL_ACCESS
from ansible_collections.airgap.ecr.tests.support.credentials import SESSION_OPTIONS as SESSION

WRONG_SECRET = "reliability-wrong-secret-key-5e1f"
UNKNOWN = {"access_key": "AKIARELIABILITY00099", "secret_key": "reliability-unknown-secret-7c2d"}
MISSING_PROFILE = "reliability-profile-that-does-not-exist"

# name -> (AWS options, what the message must say, the error code in it or None)
CASES = {
    "wrong secret": (
        dict(FULL_ACCESS, secret_key=WRONG_SECRET),
        "wrong secret key: the request signature does not match",
        "InvalidSignatureException",
    ),
    "unknown key": (
        UNKNOWN,
        "unknown credentials: AWS does not recognise the access key id",
        "UnrecognizedClientException",
    ),
    "expired session token": (EXPIRED, "expired credentials: the session token has expired", "ExpiredTokenException"),
    "profile that does not exist": (
        {"profile": MISSING_PROFILE},
        f"The config profile ({MISSING_PROFILE}) could not be found",
        None,
    ),
    "no credentials": ({}, "no credentials: no AWS credentials were found", "NoCredentials"),
    "access denied by policy": (
        DENIED,
        "access denied: the caller is not allowed to call {action} on repository 'airgap/demo'",
        "AccessDeniedException",
    ),
}
SECRETS = [
    SESSION["secret_key"],
    SESSION["session_token"],
    EXPIRED["secret_key"],
    EXPIRED["session_token"],
    WRONG_SECRET,
    UNKNOWN["secret_key"],
    DENIED["secret_key"],
]


def credentials_from(variable, **args):
    """Module arguments taking every AWS option from the play variable ``variable``."""
    options = ("access_key", "secret_key", "session_token", "endpoint_url", "region")
    return dict(args, **{option: "{{ " + variable + "." + option + " | default(omit) }}" for option in options})


def connection(emulator, credentials):
    return dict(credentials, region=REGION, endpoint_url=emulator.endpoint_url)


@pytest.mark.parametrize("name", list(CASES))
def test_each_credential_problem_has_its_own_message(emu, demo, name, figures):
    credentials, expected, code = CASES[name]
    digest = demo["layers"][0]["digest"]
    messages = {}

    failed, result = run_module(ecr_layer_url.main, repository=DEMO, digest=digest, **connection(emu, credentials))
    assert failed
    messages["ecr_layer_url"] = result["msg"]
    failed, result = run_module(ecr_image_layers.main, repository=DEMO, image_tag="1.0", **connection(emu, credentials))
    assert failed
    messages["ecr_image_layers"] = result["msg"]
    with pytest.raises(AnsibleError) as error:
        lookup_loader.get("airgap.ecr.ecr_layer_url").run(
            [digest], variables={}, repository=DEMO, **connection(emu, credentials)
        )
    messages["lookup"] = str(error.value)

    actions = {
        "ecr_layer_url": "ecr:GetDownloadUrlForLayer",
        "ecr_image_layers": "ecr:BatchGetImage",
        "lookup": "ecr:GetDownloadUrlForLayer",
    }
    for entry_point, message in messages.items():
        assert expected.format(action=actions[entry_point]) in message, (entry_point, message)
        if code:
            assert code in message, (entry_point, message)
        assert "Traceback" not in message
        for secret in SECRETS:
            assert secret not in message
    # Nothing the caller was not allowed to have: no URL was issued.
    assert not [entry for entry in emu.requests() if entry["status"] == 200]
    figures.add(
        "credentials",
        f"{name}: ecr_layer_url says",
        shown(messages["ecr_layer_url"], expected.format(action="ecr:GetDownloadUrlForLayer"), code),
    )


def shown(message, expected, code):
    """The part of a message that tells the case apart, for the figures."""
    return f"{code}: {expected}" if code else message


def test_messages_are_distinct(emu, demo):
    digest = demo["layers"][0]["digest"]
    explanations = {}
    for name, (credentials, expected, _code) in CASES.items():
        failed, result = run_module(ecr_layer_url.main, repository=DEMO, digest=digest, **connection(emu, credentials))
        assert failed
        explanations[name] = expected.split(":", 1)[0]
        assert expected.format(action="ecr:GetDownloadUrlForLayer") in result["msg"]
    assert len(set(explanations.values())) == len(CASES), explanations


def test_no_secret_in_any_output_or_log_at_vvvv(emu, demo, ansible, tmp_path, figures):
    digest = demo["layers"][0]["digest"]
    session = connection(emu, SESSION)
    dest = tmp_path / "layouts" / "host1"
    plays = [
        {
            "name": "The controller side, with a session's credentials",
            "hosts": "localhost",
            "gather_facts": False,
            "vars": {
                "session": session,
                "expired": connection(emu, EXPIRED),
                "wrong": connection(emu, dict(FULL_ACCESS, secret_key=WRONG_SECRET)),
                "unknown": connection(emu, UNKNOWN),
                "digest": digest,
            },
            "tasks": [
                {
                    "name": "With the session's credentials as module defaults",
                    "module_defaults": {"group/airgap.ecr.aws": "{{ session }}"},
                    "block": [
                        {
                            "name": "Resolve one layer",
                            "airgap.ecr.ecr_layer_url": {"repository": DEMO, "digest": "{{ digest }}"},
                            "register": "one",
                        },
                        {
                            "name": "Resolve the image",
                            "airgap.ecr.ecr_image_layers": {"repository": DEMO, "image_tag": "1.0"},
                            "register": "image",
                        },
                    ],
                },
                {
                    "name": "Resolve in a template",
                    "ansible.builtin.copy": {
                        "dest": str(tmp_path / "from-lookup.txt"),
                        "mode": "0600",
                        "content": "{{ lookup('airgap.ecr.ecr_layer_url', digest, repository='"
                        + DEMO
                        + "', access_key=session.access_key,"
                        " secret_key=session.secret_key, session_token=session.session_token,"
                        " endpoint_url=session.endpoint_url,"
                        " region=session.region) | length }}",
                    },
                },
                {
                    "name": "Fail with an expired token",
                    "airgap.ecr.ecr_layer_url": credentials_from("expired", repository=DEMO, digest="{{ digest }}"),
                    "ignore_errors": True,
                    "register": "failure1",
                },
                {
                    "name": "Fail with a wrong secret",
                    "airgap.ecr.ecr_layer_url": credentials_from("wrong", repository=DEMO, digests=["{{ digest }}"]),
                    "ignore_errors": True,
                    "register": "failure2",
                },
                {
                    "name": "Fail in a lookup with an unknown key",
                    "ansible.builtin.debug": {
                        "msg": "{{ lookup('airgap.ecr.ecr_layer_url', digest, repository='"
                        + DEMO
                        + "', access_key=unknown.access_key,"
                        " secret_key=unknown.secret_key, endpoint_url=unknown.endpoint_url, region=unknown.region) }}"
                    },
                    "ignore_errors": True,
                },
                {
                    "name": "Every failure happened",
                    "ansible.builtin.assert": {
                        "that": ["failure1 is failed", "failure2 is failed", "one is not failed"]
                    },
                },
            ],
        },
        role_play(emu, hosts="fleet", aws=session, image_fetch_tag="1.0")[0],
        {
            "name": "The role, failing with an expired token",
            "hosts": "fleet",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Run the role",
                    "block": [
                        {
                            "ansible.builtin.include_role": {"name": "airgap.ecr.image_fetch"},
                            "vars": {
                                "image_fetch_repository": DEMO,
                                "image_fetch_tag": "1.0",
                                "image_fetch_dest": str(tmp_path / "layouts" / "expired"),
                                "image_fetch_platform": "linux/amd64",
                                "image_fetch_aws": connection(emu, EXPIRED),
                            },
                        }
                    ],
                    "rescue": [
                        {
                            "name": "It failed",
                            "ansible.builtin.assert": {
                                "that": ["ansible_failed_result.msg is search('expired credentials')"]
                            },
                        }
                    ],
                }
            ],
        },
    ]
    inventory = ansible.inventory({"host1": {"dest": str(dest)}})
    run = ansible.run(plays, inventory, args=["-vvvv"])
    assert run.rc == 0, run
    # It really is verbose, it really ran the modules, and the failures are explained.
    assert "ESTABLISH LOCAL CONNECTION" in run.output and "airgap.ecr.ecr_layer_url" in run.output
    assert "expired credentials: the session token has expired" in run.output
    assert "wrong secret key" in run.output and "unknown credentials" in run.output
    assert run.log.count("ecr_image_layers") >= 2, "the log file has the run"
    verify_layout(str(dest), "1.0")

    files = []
    for directory, _subdirectories, names in os.walk(tmp_path):
        files.extend(os.path.join(directory, name) for name in names)
    files = [path for path in files if path not in ansible.inputs]
    # The search can find them: the playbook the test wrote (its input, not searched) holds them.
    playbook = "".join(read_text(path) for path in ansible.inputs)
    assert all(
        secret in playbook
        for secret in (SESSION["secret_key"], SESSION["session_token"], EXPIRED["session_token"], WRONG_SECRET)
    )
    leaks = []
    for path in files:
        with open(path, "rb") as handle:
            content = handle.read()
        leaks.extend(
            f"{secret} in {os.path.relpath(path, tmp_path)}" for secret in SECRETS if secret.encode() in content
        )
    for secret in SECRETS:
        if secret in run.output or secret in run.log:
            leaks.append(f"{secret} in the output")
    assert not leaks, leaks
    written = [path for path in files if "/ansible/" in path and path.endswith("ansible.log")]
    assert written
    figures.add(
        "credentials",
        "-vvvv run: files searched for the 7 secret values (output, log, temp dirs, layouts)",
        f"{len(files)}, {len(run.output) + len(run.log)} bytes of output and log; secrets found: {len(leaks)}",
    )


# What AWS's JSON APIs answer to a request signed with the wrong secret: the canonical request, with the
# session token the client sent, and the string to sign. Served here by the emulator's fault rules.
CANONICAL_TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQCanonicalRequestToken0123456789abcdefghKLMN=="
CANONICAL_SIGNATURE = "6d1e2a7c9b4f3e5d8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f"
CANONICAL_KEY_ID = "ASIAREDACTIONTEST001"
CANONICAL_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key "
    "and signing method. Consult the service documentation for details.\n\n"
    "The Canonical String for this request should have been\n"
    "'POST\n/\n\ncontent-type:application/x-amz-json-1.1\nhost:127.0.0.1\nx-amz-date:20240101T000000Z\n"
    f"x-amz-security-token:{CANONICAL_TOKEN}\n"
    "x-amz-target:AmazonEC2ContainerRegistry_V20150921.GetDownloadUrlForLayer\n\n"
    "content-type;host;x-amz-date;x-amz-security-token;x-amz-target\n5f4dcc3b5aa765d61d8327deb882cf99'\n\n"
    f"Authorization: AWS4-HMAC-SHA256 Credential={CANONICAL_KEY_ID}/20240101/us-east-1/ecr/aws4_request, "
    f"SignedHeaders=host, Signature=\n{CANONICAL_SIGNATURE}"
)
CANONICAL_SECRETS = [
    CANONICAL_TOKEN,
    CANONICAL_TOKEN[:24],
    CANONICAL_SIGNATURE,
    CANONICAL_SIGNATURE[:24],
    CANONICAL_KEY_ID,
]


def test_aws_text_is_redacted_in_every_message(emu, demo):
    """An InvalidSignatureException quoting the canonical request: both modules and the lookup hide its secrets."""
    digest = demo["layers"][0]["digest"]
    aws = connection(emu, FULL_ACCESS)
    for operation in ("GetDownloadUrlForLayer", "BatchGetImage"):
        emu.faults(operation=operation, code="InvalidSignatureException", status=403, message=CANONICAL_MESSAGE)
    results = {
        "ecr_layer_url": run_module(ecr_layer_url.main, repository=DEMO, digests=[digest], **aws),
        "ecr_image_layers": run_module(ecr_image_layers.main, repository=DEMO, image_tag="1.0", **aws),
    }
    with pytest.raises(AnsibleError) as error:
        lookup_loader.get("airgap.ecr.ecr_layer_url").run([digest], variables={}, repository=DEMO, **aws)
    results["lookup"] = (True, {"msg": str(error.value)})
    for entry_point, (failed, result) in results.items():
        assert failed, entry_point
        assert "wrong secret key: the request signature does not match" in result["msg"], (entry_point, result["msg"])
        assert "The Canonical String for this request should have been" in result["msg"], entry_point
        assert "x-amz-security-token:<hidden>" in result["msg"], entry_point
        text = str(result)
        leaked = [secret for secret in CANONICAL_SECRETS if secret in text]
        assert not leaked, (entry_point, leaked)
