# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Faults: throttling and 5xx answers, an ECR that always fails, a refused connection, a read timeout.

The modules run through their real entry point against the emulator over HTTP; the request
log says how many attempts each digest took and how far apart they were.
"""

import math
import random
import statistics
import time
from collections import defaultdict
from itertools import pairwise

import pytest

from ansible_collections.airgap.ecr.plugins.module_utils.ecr import ATTEMPTS
from ansible_collections.airgap.ecr.plugins.module_utils.ecr import RETRY_DELAY
from ansible_collections.airgap.ecr.plugins.module_utils.ecr import RETRY_MAX_DELAY
from ansible_collections.airgap.ecr.plugins.modules import blob_fetch
from ansible_collections.airgap.ecr.plugins.modules import ecr_image_layers
from ansible_collections.airgap.ecr.plugins.modules import ecr_layer_url
from ansible_collections.airgap.ecr.tests.reliability.conftest import DEMO
from ansible_collections.airgap.ecr.tests.reliability.conftest import MANY
from ansible_collections.airgap.ecr.tests.reliability.conftest import STRESS
from ansible_collections.airgap.ecr.tests.reliability.conftest import aws_args
from ansible_collections.airgap.ecr.tests.reliability.conftest import refused_port
from ansible_collections.airgap.ecr.tests.reliability.conftest import role_play
from ansible_collections.airgap.ecr.tests.reliability.conftest import run_module
from ansible_collections.airgap.ecr.tests.reliability.conftest import scaled
from ansible_collections.airgap.ecr.tests.reliability.conftest import wait_for

# Throttled or 5xx, as ECR or a load balancer in front of it answers (code, HTTP status).
RETRYABLE = [("ThrottlingException", 400), ("ServerException", 500), ("ServiceUnavailableException", 503)]
# The sleeps of one request that keeps failing: full jitter below 1, 2, 4, 8, 8 seconds.
SLEEP_BOUNDS = [min(RETRY_DELAY * 2**attempt, RETRY_MAX_DELAY) for attempt in range(ATTEMPTS - 1)]
MAX_SLEEP = sum(SLEEP_BOUNDS)
# What a request and the client's handling of its answer may add to a gap between two attempts.
GAP_SLACK = 1.0
CONCURRENCY = 8


def url_requests(emulator):
    return [entry for entry in emulator.requests() if entry["operation"] == "GetDownloadUrlForLayer"]


def attempts_by_digest(entries):
    by_digest = defaultdict(list)
    for entry in entries:
        by_digest[entry["params"]["layerDigest"]].append(entry)
    return by_digest


def backoff_violations(by_digest):
    """Gaps between two attempts of one digest longer than that retry's backoff allows."""
    found = []
    for digest, entries in by_digest.items():
        times = [entry["time"] for entry in entries]
        for retry, (before, after) in enumerate(pairwise(times)):
            if after - before > SLEEP_BOUNDS[retry] + GAP_SLACK:
                found.append(
                    f"{digest}: wait before attempt {retry + 2} was {after - before:.2f}s, at most "
                    f"{SLEEP_BOUNDS[retry]}s allowed"
                )
    return found


def fault_plan(digests, seed, share=0.3):
    """``{digest: [(code, status), ...]}``: the failures each chosen digest meets before it succeeds.

    ``share`` of the digests are chosen, and enough failures are given to them that ``share``
    of all the requests fail: one each, one digest failing 5 times (its 6th and last attempt
    succeeds), the rest spread as second failures. Deterministic for a seed.
    """
    chooser = random.Random(seed)
    chosen = chooser.sample(digests, round(share * len(digests)))
    failures = math.ceil(share * len(digests) / (1 - share))
    counts = [1] * len(chosen)
    counts[0] = ATTEMPTS - 1
    extra = failures - sum(counts)
    for index in range(1, len(counts)):
        if extra <= 0:
            break
        counts[index] += 1
        extra -= 1
    assert extra <= 0 and sum(counts) >= failures
    plan = {}
    for number, (digest, count) in enumerate(zip(chosen, counts, strict=True)):
        plan[digest] = [RETRYABLE[(number + attempt) % len(RETRYABLE)] for attempt in range(count)]
    return plan


def test_thirty_percent_of_requests_throttled_or_5xx_all_succeed(emu, many, figures):
    rounds = scaled(1, 5)
    total_requests = total_failed = 0
    max_attempts = 0
    elapsed = []
    for number in range(rounds):
        emu.reset()
        plan = fault_plan(many, seed=number)
        for digest, failures in plan.items():
            for code, status in failures:
                emu.faults(operation="GetDownloadUrlForLayer", digest=digest, count=1, code=code, status=status)
        started = time.monotonic()
        failed, result = run_module(
            ecr_layer_url.main, repository=MANY, digests=many, concurrency=CONCURRENCY, **aws_args(emu)
        )
        elapsed.append(time.monotonic() - started)
        assert not failed, result["msg"]
        assert [layer["layer_digest"] for layer in result["layers"]] == many
        assert all(layer["download_url"] and layer["expires_at"] for layer in result["layers"])
        assert not emu.faults(), "every injected failure was met"

        entries = url_requests(emu)
        by_digest = attempts_by_digest(entries)
        # Each failure cost exactly one more attempt, and nothing else was asked twice.
        assert {digest: len(found) for digest, found in by_digest.items()} == {
            digest: len(plan.get(digest, [])) + 1 for digest in many
        }
        for digest, found in by_digest.items():
            assert [(entry["error_code"], entry["status"]) for entry in found[:-1]] == plan.get(digest, []), digest
            assert found[-1]["status"] == 200, digest
        failed_requests = sum(1 for entry in entries if entry["status"] >= 400)
        assert failed_requests / len(entries) >= 0.3 - 1e-9, (failed_requests, len(entries))
        assert {entry["error_code"] for entry in entries} - {None} == {code for code, _status in RETRYABLE}
        assert not backoff_violations(by_digest)
        total_requests += len(entries)
        total_failed += failed_requests
        max_attempts = max(max_attempts, max(len(found) for found in by_digest.values()))
    assert max_attempts == ATTEMPTS
    figures.add(
        "faults",
        f"30% faults: digests resolved / asked ({rounds} round(s) of {len(many)})",
        f"{rounds * len(many)} / {rounds * len(many)}",
    )
    figures.add(
        "faults",
        "30% faults: requests failed with 400/500/503 / all requests",
        f"{total_failed} / {total_requests} ({100.0 * total_failed / total_requests:.1f}%)",
    )
    figures.add(
        "faults",
        "30% faults: attempts per digest, mean / max (limit 6)",
        f"{total_requests / (rounds * len(many)):.2f} / {max_attempts}",
    )
    figures.add(
        "faults", "30% faults: task time, mean / max (s)", f"{statistics.mean(elapsed):.1f} / {max(elapsed):.1f}"
    )


def test_every_request_failing_fails_in_bounded_time(emu, many, figures):
    digests = many[: scaled(CONCURRENCY, 50)]
    throttled, broken = digests[::2], digests[1::2]
    for digest in throttled:
        emu.faults(operation="GetDownloadUrlForLayer", digest=digest, count=None, code="ThrottlingException")
    for digest in broken:
        emu.faults(operation="GetDownloadUrlForLayer", digest=digest, count=None, code="ServerException", status=500)
    started = time.monotonic()
    failed, result = run_module(
        ecr_layer_url.main, repository=MANY, digests=digests, concurrency=CONCURRENCY, **aws_args(emu)
    )
    elapsed = time.monotonic() - started

    assert failed
    message = result["msg"]
    assert f"Could not get download URLs for {len(digests)} of {len(digests)} layers in repository '{MANY}'" in message
    assert f"ThrottlingException for {', '.join(throttled)}:" in message
    assert f"ServerException for {', '.join(broken)}:" in message
    assert f"still failing after {ATTEMPTS} attempts" in message
    assert "Traceback" not in message
    codes = {failure["layer_digest"]: failure["error_code"] for failure in result["failures"]}
    assert codes == dict(
        [(digest, "ThrottlingException") for digest in throttled] + [(digest, "ServerException") for digest in broken]
    )

    by_digest = attempts_by_digest(url_requests(emu))
    assert {digest: len(found) for digest, found in by_digest.items()} == dict.fromkeys(digests, ATTEMPTS)
    assert not backoff_violations(by_digest)
    sleeps = [found[-1]["time"] - found[0]["time"] for found in by_digest.values()]
    assert max(sleeps) <= MAX_SLEEP + ATTEMPTS * GAP_SLACK
    waves = math.ceil(len(digests) / CONCURRENCY)
    bound = waves * (MAX_SLEEP + ATTEMPTS * GAP_SLACK) + 5
    assert elapsed <= bound, (elapsed, bound)
    figures.add(
        "faults",
        f"100% faults, {len(digests)} digests, concurrency {CONCURRENCY}: time to fail (s)",
        f"{elapsed:.1f} (bound {bound:.0f})",
    )
    figures.add(
        "faults",
        "100% faults: first to last attempt of one digest, mean / max (s)",
        f"{statistics.mean(sleeps):.1f} / {max(sleeps):.1f} (bound {MAX_SLEEP:.0f} + requests)",
    )


@pytest.mark.skipif(not STRESS, reason="make stress only (test_every_request_failing_fails_in_bounded_time covers it)")
def test_one_digest_always_failing_time_to_fail(emu, many, figures):
    """The time a single request takes to give up, over several runs."""
    times = []
    for number in range(10):
        emu.reset()
        digest = many[number]
        emu.faults(operation="GetDownloadUrlForLayer", digest=digest, count=None, code="ThrottlingException")
        started = time.monotonic()
        failed, result = run_module(ecr_layer_url.main, repository=MANY, digest=digest, **aws_args(emu))
        times.append(time.monotonic() - started)
        assert failed and result["failures"] == [
            {"layer_digest": digest, "error_code": "ThrottlingException", "error_message": "Rate exceeded"}
        ]
        assert f"Could not get a download URL for layer {digest}" in result["msg"]
        assert len(url_requests(emu)) == ATTEMPTS
        assert times[-1] <= MAX_SLEEP + ATTEMPTS * GAP_SLACK
    figures.add(
        "faults",
        f"100% faults, one digest: time to fail over {len(times)} run(s), mean / max (s)",
        f"{statistics.mean(times):.1f} / {max(times):.1f}",
    )


def test_image_always_failing_fails_in_bounded_time(emu, figures):
    emu.faults(operation="BatchGetImage", count=None, code="ServerException", status=500)
    started = time.monotonic()
    failed, result = run_module(ecr_image_layers.main, repository=DEMO, image_tag="1.0", **aws_args(emu))
    elapsed = time.monotonic() - started
    assert failed
    assert result["msg"].startswith(f"Could not get image {DEMO}:1.0: still failing after {ATTEMPTS} attempts"), result[
        "msg"
    ]
    assert "ServerException" in result["msg"] and "Traceback" not in result["msg"]
    assert [entry["operation"] for entry in emu.requests()] == ["BatchGetImage"] * ATTEMPTS
    assert elapsed <= MAX_SLEEP + ATTEMPTS * GAP_SLACK
    figures.add("faults", "100% faults, ecr_image_layers (BatchGetImage): time to fail (s)", f"{elapsed:.1f}")


def test_connection_refused_fails_at_once(emu, demo, figures, tmp_path):
    sock, port = refused_port()
    try:
        digests = [demo["config"]["digest"]] + [layer["digest"] for layer in demo["layers"]]
        started = time.monotonic()
        failed, result = run_module(
            ecr_layer_url.main,
            repository=DEMO,
            digests=digests,
            **aws_args(emu, endpoint_url=f"http://127.0.0.1:{port}"),
        )
        resolve_seconds = time.monotonic() - started
        assert failed and resolve_seconds < 5
        assert (
            f"EndpointConnectionError for {', '.join(digests)}: endpoint unreachable: could not connect to the ECR "
            "endpoint" in result["msg"]
        )
        assert f"127.0.0.1:{port}" in result["msg"]

        started = time.monotonic()
        failed, result = run_module(
            ecr_image_layers.main,
            repository=DEMO,
            image_tag="1.0",
            **aws_args(emu, endpoint_url=f"http://127.0.0.1:{port}"),
        )
        assert failed and time.monotonic() - started < 5
        assert result["msg"].startswith(f"Could not get image {DEMO}:1.0: endpoint unreachable"), result["msg"]

        # On a target host: the download URL's host refuses connections.
        blobs = [{"digest": digests[0], "url": f"http://127.0.0.1:{port}/bucket/key?X-Amz-Signature=secret"}]
        started = time.monotonic()
        failed, result = run_module(
            blob_fetch.main, allow_http=True, blobs=blobs, dest=str(tmp_path / "dest"), retries=0
        )
        fetch_seconds = time.monotonic() - started
        assert failed and fetch_seconds < 5
        assert result["msg"].startswith(f"Could not fetch 1 of 1 blob(s): {digests[0]}: ")
        assert "Connection refused" in result["msg"] and "X-Amz-Signature=secret" not in result["msg"]
    finally:
        sock.close()
    assert not emu.requests()
    figures.add(
        "faults",
        "connection refused: time to fail, ecr_layer_url (4 digests) / blob_fetch (s)",
        f"{resolve_seconds:.2f} / {fetch_seconds:.2f}",
    )


def test_read_timeout_from_aws_config(emu, demo, figures):
    digest = demo["layers"][0]["digest"]
    emu.faults(operation="GetDownloadUrlForLayer", count=None, latency_ms=3000)
    started = time.monotonic()
    failed, result = run_module(
        ecr_layer_url.main, repository=DEMO, digest=digest, aws_config={"read_timeout": 1}, **aws_args(emu)
    )
    elapsed = time.monotonic() - started
    assert failed
    assert (
        f"ReadTimeout for {digest}: read timeout: the ECR endpoint did not answer in time; retry, or raise "
        "read_timeout in aws_config." in result["msg"]
    )
    assert 1 <= elapsed < 4, elapsed
    # Not retried: one request reached the emulator (logged once its 3 s are over).
    assert wait_for(lambda: url_requests(emu), timeout=10)
    time.sleep(0.5)
    assert len(url_requests(emu)) == 1
    figures.add(
        "faults",
        "read timeout (aws_config read_timeout=1, ECR answering after 3 s): time to fail (s)",
        f"{elapsed:.2f}",
    )


def test_role_with_unreachable_endpoint_fails_clearly(emu, ansible, tmp_path, figures):
    sock, port = refused_port()
    try:
        inventory = ansible.inventory({"host1": {"dest": str(tmp_path / "host1")}})
        run = ansible.run(
            role_play(
                emu, image_fetch_tag="1.0", image_fetch_aws=aws_args(emu, endpoint_url=f"http://127.0.0.1:{port}")
            ),
            inventory,
        )
    finally:
        sock.close()
    assert run.rc != 0, run
    assert (
        f"for platform linux/amd64: images[0]: Could not get image {DEMO}:1.0: endpoint unreachable: could not "
        "connect to the ECR endpoint" in run.output
    ), run
    assert not (tmp_path / "host1").exists()
    figures.add("faults", "connection refused: image_fetch role run until it fails (s)", f"{run.seconds:.1f}")
