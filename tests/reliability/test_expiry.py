# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Expiry: URLs that expire between resolution and download are refreshed by the role; an expired URL given
straight to get_url (or blob_fetch) fails with a clear message.
"""

import os
import time

from ansible_collections.airgap.ecr.plugins.modules import blob_fetch
from ansible_collections.airgap.ecr.plugins.modules import ecr_layer_url
from ansible_collections.airgap.ecr.tests.reliability.conftest import DEMO
from ansible_collections.airgap.ecr.tests.reliability.conftest import PLAYBOOK_TIMEOUT
from ansible_collections.airgap.ecr.tests.reliability.conftest import aws_args
from ansible_collections.airgap.ecr.tests.reliability.conftest import kill_play
from ansible_collections.airgap.ecr.tests.reliability.conftest import read_text
from ansible_collections.airgap.ecr.tests.reliability.conftest import role_play
from ansible_collections.airgap.ecr.tests.reliability.conftest import run_module
from ansible_collections.airgap.ecr.tests.reliability.conftest import scaled
from ansible_collections.airgap.ecr.tests.reliability.conftest import verify_layout
from ansible_collections.airgap.ecr.tests.reliability.conftest import wait_for

URL_TTL = 5
# Long enough for every URL of the first resolution to expire while the config downloads.
CONFIG_DELAY_MS = (URL_TTL + 1) * 1000


def test_role_refreshes_urls_that_expire_before_download(emu, ansible, tmp_path, demo, figures):
    rounds = scaled(1, 3)
    for number in range(rounds):
        emu.reset()
        emu.config(url_ttl=URL_TTL)
        # One download at a time, the first (the config) held up until the other URLs have expired.
        emu.faults(operation="GetObject", count=1, latency_ms=CONFIG_DELAY_MS, digest=demo["config"]["digest"])
        dest = str(tmp_path / f"host-{number}")
        process, _log, output = ansible.start(
            role_play(emu, image_fetch_tag="1.0", image_fetch_concurrency=1),
            ansible.inventory({"host1": {"dest": dest}}),
        )
        try:
            # Once a download was refused as expired, the URLs of the refresh live long: the test does not
            # depend on the machine's speed.
            assert wait_for(lambda: [entry for entry in emu.requests() if entry["status"] == 403], timeout=120), (
                emu.requests()
            )
            emu.config(url_ttl=3600)
            process.wait(timeout=PLAYBOOK_TIMEOUT)
        finally:
            if process.poll() is None:
                kill_play(process)
        assert process.returncode == 0, read_text(output)
        verify_layout(dest, "1.0")
        log = emu.requests()
        expired = [entry for entry in log if entry["operation"] == "GetObject" and entry["status"] == 403]
        assert expired and all(entry["error_code"] == "AccessDenied" for entry in expired), log
        # Resolved twice: by tag, then again pinned to the digest it had, for this host's platform.
        image_requests = [entry["params"]["imageIds"] for entry in log if entry["operation"] == "BatchGetImage"]
        assert image_requests == [[{"imageTag": "1.0"}], [{"imageDigest": demo["image_digest"]}]]
        downloaded = [entry for entry in log if entry["operation"] == "GetObject" and entry["status"] == 200]
        assert sorted(entry["params"]["key"].rsplit("/", 1)[1] for entry in downloaded) == sorted(
            [demo["config"]["digest"]] + [layer["digest"] for layer in demo["layers"]]
        )
    figures.add(
        "expiry",
        f"role: URLs expired before download (TTL {URL_TTL} s, config held {CONFIG_DELAY_MS / 1000:.0f} s), runs "
        "that completed",
        f"{rounds} / {rounds}, each after one refresh; {len(expired)} downloads refused as expired in the last run",
    )


def expired_url(emu, digest):
    emu.config(url_ttl=1)
    failed, result = run_module(ecr_layer_url.main, repository=DEMO, digest=digest, **aws_args(emu))
    assert not failed, result["msg"]
    emu.reset()
    # X-Amz-Date has whole seconds: past 2 s the URL has expired.
    time.sleep(2.1)
    return result["download_url"]


def test_expired_url_straight_to_get_url_fails_clearly(emu, ansible, tmp_path, demo, figures):
    digest = demo["layers"][0]["digest"]
    url = expired_url(emu, digest)
    dest = tmp_path / "hosts" / "layer.tar.gz"
    dest.parent.mkdir()
    plays = [
        {
            "name": "Download with get_url",
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Download an expired URL",
                    "ansible.builtin.get_url": {"url": url, "dest": str(dest), "checksum": digest, "mode": "0644"},
                }
            ],
        }
    ]
    run = ansible.run(plays)
    assert run.rc != 0, run
    # get_url says no more than this; S3's "Request has expired" is not shown. Its result also holds the URL.
    assert '"msg": "Request failed", "response": "HTTP Error 403: FORBIDDEN", "status_code": 403' in run.output, run
    assert not os.listdir(dest.parent)
    assert [(entry["status"], entry["error_code"]) for entry in emu.requests()] == [(403, "AccessDenied")]
    figures.add(
        "expiry",
        "get_url with an expired URL says",
        'msg "Request failed", response "HTTP Error 403: FORBIDDEN", status_code 403 (and the URL)',
    )


def test_expired_url_to_blob_fetch_fails_clearly(emu, tmp_path, demo, figures):
    digest = demo["layers"][0]["digest"]
    url = expired_url(emu, digest)
    dest = str(tmp_path / "layout")
    failed, result = run_module(blob_fetch.main, blobs=[{"digest": digest, "url": url}], dest=dest, allow_http=True)
    assert failed
    assert result["msg"] == (
        f"Could not fetch 1 of 1 blob(s): {digest}: the download URL has expired or is not valid (HTTP 403, "
        "AccessDenied: Request has expired): "
        "resolve a new URL on the controller (for example with airgap.ecr.ecr_image_layers) and run the task again"
    )
    assert url.split("?")[1] not in str(result)
    assert len(emu.requests()) == 1, "a refused URL is not tried again"
    figures.add(
        "expiry", "blob_fetch with an expired URL says", result["msg"].split(": ", 1)[1][len(digest) + 2 :][:160]
    )
