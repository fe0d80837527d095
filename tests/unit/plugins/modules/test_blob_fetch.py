# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""blob_fetch through its real entry point, downloading from the local ECR emulator's pre-signed URLs."""

import os
import time

import pytest

from ansible_collections.airgap.ecr.plugins.modules import blob_fetch
from ansible_collections.airgap.ecr.plugins.modules import ecr_image_layers
from ansible_collections.airgap.ecr.tests.support.digests import file_digest
from ansible_collections.airgap.ecr.tests.support.modules import run_module_text
from ansible_collections.airgap.ecr.tests.unit.plugins.modules.conftest import demo_image

REPOSITORY = "airgap/demo"


@pytest.fixture(autouse=True)
def no_proxy_for_the_emulator(monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1")


@pytest.fixture(name="run_blob_fetch")
def run_blob_fetch_fixture():
    """``run(check_mode=False, **args) -> (failed, result, output)``: the module's real entry point, no AWS options."""

    def run(check_mode=False, **args):
        args.setdefault("allow_http", True)  # the emulator is http://
        return run_module_text(blob_fetch.main, check_mode, **args)

    return run


@pytest.fixture(name="demo")
def demo_fixture(fresh_emulator):
    """The demo image's blobs, each with a fresh pre-signed URL; the request log is cleared afterwards."""
    image = demo_image(fresh_emulator)
    client = fresh_emulator.client("ecr")
    blobs = []
    for blob in [image["config"]] + image["layers"]:
        url = client.get_download_url_for_layer(repositoryName=REPOSITORY, layerDigest=blob["digest"])["downloadUrl"]
        blobs.append(dict(blob, url=url))
    fresh_emulator.clear_requests()
    return blobs


def downloads(emulator):
    return [r for r in emulator.requests() if r["operation"] == "GetObject"]


def test_every_demo_blob_fetched_then_present(run_blob_fetch, fresh_emulator, demo, tmp_path):
    entries = [{"digest": b["digest"], "url": b["url"], "size": b["size"]} for b in demo]
    failed, result, output = run_blob_fetch(blobs=entries, dest=str(tmp_path))
    assert not failed and result["changed"] is True
    assert result["fetched"] == len(demo) and result["present"] == 0
    assert result["bytes"] == sum(b["size"] for b in demo) and result["throughput"] > 0
    assert [b["digest"] for b in result["blobs"]] == [b["digest"] for b in demo]
    for blob in result["blobs"]:
        assert blob["status"] == "fetched" and os.path.isfile(blob["path"])
        assert file_digest(blob["path"]) == blob["digest"]
        assert os.stat(blob["path"]).st_mode & 0o777 == 0o644
    assert sorted(os.listdir(tmp_path / "blobs" / "sha256")) == sorted(b["digest"][7:] for b in demo)
    assert len(downloads(fresh_emulator)) == len(demo)
    for blob in demo:
        assert blob["url"] not in output
    assert "X-Amz-Signature" not in output

    fresh_emulator.clear_requests()
    failed, result, output = run_blob_fetch(blobs=entries, dest=str(tmp_path))
    assert not failed and result["changed"] is False
    assert result["present"] == len(demo) and result["fetched"] == 0 and result["bytes"] == 0
    assert fresh_emulator.requests() == []


def test_items_of_ecr_image_layers_as_they_are(run_module, run_blob_fetch, fresh_emulator, tmp_path):
    failed, image = run_module(ecr_image_layers.main, repository=REPOSITORY, image_tag="1.0")
    assert not failed
    failed, result, output = run_blob_fetch(
        blobs=[image["config"]] + image["layers"], dest=str(tmp_path / "layout"), concurrency=2
    )
    assert not failed and result["fetched"] == 1 + len(image["layers"])
    assert image["config"]["download_url"] not in output
    for blob in result["blobs"]:
        assert file_digest(blob["path"]) == blob["digest"]


def test_check_mode(run_blob_fetch, fresh_emulator, demo, tmp_path):
    dest = tmp_path / "layout"
    failed, result = run_blob_fetch(check_mode=True, blobs=demo, dest=str(dest))[:2]
    assert not failed and result["changed"] is True
    assert [(b["status"], b["size"]) for b in result["blobs"]] == [("would_fetch", b["size"]) for b in demo]
    assert not dest.exists() and fresh_emulator.requests() == []

    run_blob_fetch(blobs=demo[:1], dest=str(dest))
    fresh_emulator.clear_requests()
    failed, result = run_blob_fetch(check_mode=True, blobs=demo, dest=str(dest))[:2]
    assert [b["status"] for b in result["blobs"]] == ["present"] + ["would_fetch"] * (len(demo) - 1)
    assert os.listdir(dest / "blobs" / "sha256") == [demo[0]["digest"][7:]] and fresh_emulator.requests() == []


def test_cut_download_is_resumed(run_blob_fetch, fresh_emulator, demo, tmp_path):
    largest = max(demo, key=lambda b: b["size"])
    fresh_emulator.faults(operation="GetObject", digest=largest["digest"], truncate=100_000, count=1)
    failed, result = run_blob_fetch(blobs=[largest], dest=str(tmp_path), retries=1)[:2]
    assert not failed
    assert result["blobs"][0]["resumed_from"] == 100_000 and result["bytes"] == largest["size"]
    assert [r["params"].get("range") for r in downloads(fresh_emulator)] == [None, "bytes=100000-"]
    assert file_digest(result["blobs"][0]["path"]) == largest["digest"]


def test_file_attributes(run_blob_fetch, demo, tmp_path):
    failed, result = run_blob_fetch(blobs=demo[:1], dest=str(tmp_path), mode="0600")[:2]
    assert not failed and os.stat(result["blobs"][0]["path"]).st_mode & 0o777 == 0o600
    failed, result = run_blob_fetch(blobs=demo[:1], dest=str(tmp_path), mode="0644")[:2]
    assert not failed and result["changed"] is True and result["blobs"][0]["status"] == "present"
    failed, result = run_blob_fetch(blobs=demo[:1], dest=str(tmp_path), mode="0644")[:2]
    assert result["changed"] is False


def test_expired_url_fails_naming_the_digest(run_blob_fetch, fresh_emulator, tmp_path):
    image = demo_image(fresh_emulator)
    client = fresh_emulator.client("ecr")
    fresh_emulator.config(url_ttl=1)
    try:
        expiring = client.get_download_url_for_layer(
            repositoryName=REPOSITORY, layerDigest=image["layers"][0]["digest"]
        )["downloadUrl"]
    finally:
        fresh_emulator.reset()
    valid = client.get_download_url_for_layer(repositoryName=REPOSITORY, layerDigest=image["config"]["digest"])[
        "downloadUrl"
    ]
    time.sleep(2)
    fresh_emulator.clear_requests()
    blobs = [
        {"download_url": valid, "digest": image["config"]["digest"]},
        {"download_url": expiring, "layer_digest": image["layers"][0]["digest"]},
    ]
    failed, result, output = run_blob_fetch(blobs=blobs, dest=str(tmp_path), retries=2)
    assert failed
    digest = image["layers"][0]["digest"]
    assert result["failures"] == [{"digest": digest, "error": result["failures"][0]["error"]}]
    assert digest in result["msg"] and "expired or is not valid" in result["msg"] and "HTTP 403" in result["msg"]
    assert "Could not fetch 1 of 2 blob(s)" in result["msg"]
    assert [b["status"] for b in result["blobs"]] == ["fetched", "failed"]
    assert len(downloads(fresh_emulator)) == 2, "the 403 is not retried"
    assert expiring not in output and valid not in output and "X-Amz-" not in output
    assert sorted(os.listdir(tmp_path / "blobs" / "sha256")) == [image["config"]["digest"][7:]]


def test_urls_kept_out_of_the_invocation_log(run_blob_fetch, demo, tmp_path, monkeypatch):
    logged = []
    monkeypatch.setattr(blob_fetch.TargetModule, "log", lambda self, msg, log_args=None: logged.append(msg))
    failed = run_blob_fetch(check_mode=True, blobs=demo, dest=str(tmp_path))[0]
    assert not failed and logged and "blobs=" in logged[0]
    assert not any(blob["url"] in msg or "X-Amz-Signature" in msg for msg in logged for blob in demo)


@pytest.mark.parametrize(
    "blobs, args, expected",
    [
        (
            [{"digest": "sha256:12", "url": "http://127.0.0.1:1/x"}],
            {},
            "blobs[4].digest 'sha256:12' is not a valid sha256 digest",
        ),
        (
            [{"digest": "sha256:" + "a" * 64}],
            {},
            "blobs[4] (sha256:" + "a" * 64 + ") has no url, and is not present in dest",
        ),
        (
            [{"digest": "sha256:" + "a" * 64, "url": "ftp://127.0.0.1:1/x"}],
            {},
            "blobs[4].url (for sha256:" + "a" * 64 + ") is not an http",
        ),
        (["sha256:" + "a" * 64], {}, "every entry of blobs must be a dict with a digest and a url, and one is not"),
        (
            [{"digest": "sha256:" + "a" * 64, "url": "http://127.0.0.1:1/x"}],
            {"concurrency": 33},
            "concurrency 33 is out of range",
        ),
        (
            [{"digest": "sha256:" + "a" * 64, "url": "http://127.0.0.1:1/x"}],
            {"retries": -1},
            "retries -1 is out of range",
        ),
    ],
)
def test_invalid_input_fails_before_any_request(run_blob_fetch, fresh_emulator, demo, tmp_path, blobs, args, expected):
    assert len(demo) == 4
    entries = demo + blobs  # valid entries first: nothing at all is fetched
    failed, result = run_blob_fetch(blobs=entries, dest=str(tmp_path), **args)[:2]
    assert failed and expected in result["msg"]
    assert fresh_emulator.requests() == [] and os.listdir(tmp_path) == []


def test_urls_masked_in_the_result_also_when_the_task_has_no_log(run_blob_fetch, demo, tmp_path):
    failed, result, output = run_blob_fetch(check_mode=True, blobs=demo, dest=str(tmp_path), _ansible_no_log=True)
    assert not failed and result["invocation"]["module_args"]["blobs"]
    assert not any(blob["url"] in output for blob in demo)
