# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""blobs: downloads against a real HTTP server on 127.0.0.1 that can cut, corrupt, refuse and delay."""

import os

import pytest

from ansible_collections.airgap.ecr.plugins.module_utils import download_batch
from ansible_collections.airgap.ecr.plugins.module_utils import download_http
from ansible_collections.airgap.ecr.plugins.module_utils import target_module
from ansible_collections.airgap.ecr.plugins.module_utils.layout import Layout
from ansible_collections.airgap.ecr.plugins.module_utils.validation import ValidationError
from ansible_collections.airgap.ecr.tests.support.blob_server import BlobServer
from ansible_collections.airgap.ecr.tests.support.digests import digest_of
from ansible_collections.airgap.ecr.tests.support.digests import make_data

SECRET = "X-Amz-Signature=0123456789abcdef0123456789abcdef&X-Amz-Credential=AKIDUNITTESTSECRET"


@pytest.fixture(name="server")
def server_fixture(monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    with BlobServer(query=SECRET) as server:
        yield server


@pytest.fixture(name="opener")
def opener_fixture():
    return download_http.url_opener(timeout=5, allow_http=True)


def fetch(opener, entries, dest, **kwargs):
    kwargs.setdefault("retry_delay", 0)
    return download_batch.fetch_blobs(opener, target_module.normalize_blobs(entries), Layout(str(dest)), **kwargs)


def tree(root):
    listing = []
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            listing.append((os.path.relpath(path, root), os.path.getsize(path) if os.path.isfile(path) else None))
    return sorted(listing)


def no_secret(value):
    text = repr(value)
    return (
        "0123456789abcdef0123456789abcdef" not in text and "AKIDUNITTESTSECRET" not in text and "127.0.0.1" not in text
    )


# --------------------------------------------------------------------------- fetching


def test_fresh_fetch_then_present_without_request(server, opener, tmp_path):
    data = [make_data(300_000, 1), make_data(10, 2), b""]
    entries = [{"digest": digest_of(d), "url": server.add(f"b{i}", d), "size": len(d)} for i, d in enumerate(data)]
    result = fetch(opener, entries, tmp_path)
    assert result["failures"] == [] and result["changed"] is True
    assert result["fetched"] == 3 and result["present"] == 0 and result["bytes"] == sum(map(len, data))
    for blob, content in zip(result["blobs"], data, strict=True):
        assert blob["status"] == "fetched" and blob["size"] == len(content) and blob["resumed_from"] == 0
        algorithm, encoded = blob["digest"].split(":")
        assert blob["path"] == str(tmp_path / "blobs" / algorithm / encoded)
        with open(blob["path"], "rb") as f:
            assert f.read() == content
        assert os.stat(blob["path"]).st_mode & 0o777 == 0o644
    assert os.stat(tmp_path / "blobs").st_mode & 0o777 == 0o755
    assert os.stat(tmp_path / "blobs" / "sha256").st_mode & 0o777 == 0o755
    assert [entry[0] for entry in tree(tmp_path)] == sorted(
        ["blobs", "blobs/sha256"] + [f"blobs/sha256/{e['digest'][7:]}" for e in entries]
    )

    server.log.clear()
    again = fetch(opener, entries, tmp_path)
    assert again["changed"] is False and again["present"] == 3 and again["bytes"] == 0
    assert [b["status"] for b in again["blobs"]] == ["present"] * 3
    assert server.requests() == []


def test_sha512_and_aliases_and_duplicates(server, opener, tmp_path):
    data = make_data(5000, 3)
    url = server.add("x", data)
    entries = [
        {"layer_digest": digest_of(data, "sha512"), "download_url": url, "media_type": "ignored", "expires_at": None},
        {"digest": digest_of(data, "sha512"), "url": url, "size": len(data), "foreign": False},
    ]
    result = fetch(opener, entries, tmp_path)
    assert [b["status"] for b in result["blobs"]] == ["fetched"]
    assert (tmp_path / "blobs" / "sha512" / digest_of(data, "sha512")[7:]).read_bytes() == data
    assert len(server.requests()) == 1


def test_present_without_url_is_verified_without_request(server, opener, tmp_path):
    data = make_data(1000, 4)
    fetch(opener, [{"digest": digest_of(data), "url": server.add("p", data)}], tmp_path)
    server.log.clear()
    result = fetch(opener, [{"digest": digest_of(data), "size": 1000}], tmp_path)
    assert result["blobs"][0]["status"] == "present" and result["changed"] is False
    assert server.requests() == []


def test_corrupt_file_at_final_path_is_replaced(server, opener, tmp_path):
    data = make_data(70_000, 5)
    digest = digest_of(data)
    final = tmp_path / "blobs" / "sha256" / digest[7:]
    final.parent.mkdir(parents=True)
    final.write_bytes(b"not the blob")
    result = fetch(opener, [{"digest": digest, "url": server.add("c", data)}], tmp_path)
    blob = result["blobs"][0]
    assert blob["status"] == "fetched" and blob["replaced_corrupt"] is True and result["changed"] is True
    assert final.read_bytes() == data


def test_corrupted_response_leaves_nothing(server, opener, tmp_path):
    data = make_data(50_000, 6)
    digest = digest_of(data)
    server.add("bad", data)
    server.plan("bad", {"corrupt": True}, {"corrupt": True}, {"corrupt": True})
    result = fetch(opener, [{"digest": digest, "url": server.add("bad", data)}], tmp_path, retries=2)
    failure = result["failures"][0]
    assert (
        failure["digest"] == digest and f"not {digest}" in failure["error"] and "after 3 attempts" in failure["error"]
    )
    assert result["blobs"][0]["status"] == "failed" and result["changed"] is False
    assert len(server.requests()) == 3 and all(r["range"] is None for r in server.requests())
    assert tree(tmp_path / "blobs" / "sha256") == []


def test_corrupted_response_then_good_one(server, opener, tmp_path):
    data = make_data(50_000, 7)
    server.plan("flaky", {"corrupt": True})
    result = fetch(opener, [{"digest": digest_of(data), "url": server.add("flaky", data)}], tmp_path, retries=1)
    assert result["blobs"][0]["status"] == "fetched" and result["blobs"][0]["bytes"] == 2 * len(data)


def test_cut_transfer_is_resumed_with_range(server, opener, tmp_path):
    data = make_data(1_000_000, 8)
    digest = digest_of(data)
    server.plan("cut", {"cut": 300_000})
    result = fetch(opener, [{"digest": digest, "url": server.add("cut", data), "size": len(data)}], tmp_path)
    blob = result["blobs"][0]
    assert blob["status"] == "fetched" and blob["resumed_from"] == 300_000
    assert blob["bytes"] == len(data)
    requests = server.requests("cut")
    assert [r["range"] for r in requests] == [None, "bytes=300000-"]
    assert [r["status"] for r in requests] == [200, 206]
    assert sum(r["sent"] for r in requests) < 2 * len(data)
    assert (tmp_path / "blobs" / "sha256" / digest[7:]).read_bytes() == data
    assert [entry[0] for entry in tree(tmp_path / "blobs" / "sha256")] == [digest[7:]]


def test_cut_transfer_without_size_is_resumed(server, opener, tmp_path):
    data = make_data(400_000, 9)
    server.plan("cut", {"cut": 1000}, {"cut": 1000})
    result = fetch(opener, [{"digest": digest_of(data), "url": server.add("cut", data)}], tmp_path)
    assert result["blobs"][0]["status"] == "fetched" and result["blobs"][0]["resumed_from"] == 2000
    assert [r["range"] for r in server.requests()] == [None, "bytes=1000-", "bytes=2000-"]


def test_cut_transfer_out_of_retries_keeps_partial_for_next_run(server, opener, tmp_path):
    data = make_data(200_000, 10)
    digest = digest_of(data)
    url = server.add("cut", data)
    server.plan("cut", {"cut": 50_000})
    result = fetch(opener, [{"digest": digest, "url": url, "size": len(data)}], tmp_path, retries=0)
    assert "cut after 50000 of 200000 bytes" in result["failures"][0]["error"]
    partial = tmp_path / "blobs" / "sha256" / f".{digest[7:]}.partial"
    assert partial.read_bytes() == data[:50_000]
    assert not (tmp_path / "blobs" / "sha256" / digest[7:]).exists()

    result = fetch(opener, [{"digest": digest, "url": url, "size": len(data)}], tmp_path, retries=0)
    assert result["blobs"][0]["status"] == "fetched" and result["blobs"][0]["resumed_from"] == 50_000
    assert result["blobs"][0]["bytes"] == 150_000 and not partial.exists()


def test_partial_from_interrupted_run_is_resumed(server, opener, tmp_path):
    data = make_data(600_000, 11)
    digest = digest_of(data)
    directory = tmp_path / "blobs" / "sha256"
    directory.mkdir(parents=True)
    (directory / f".{digest[7:]}.partial").write_bytes(data[:123_456])
    result = fetch(opener, [{"digest": digest, "url": server.add("r", data)}], tmp_path)
    blob = result["blobs"][0]
    assert blob["status"] == "fetched" and blob["resumed_from"] == 123_456 and blob["bytes"] == len(data) - 123_456
    assert [r["range"] for r in server.requests()] == ["bytes=123456-"]
    assert (directory / digest[7:]).read_bytes() == data
    assert tree(directory) == [(digest[7:], len(data))]


def test_complete_partial_is_renamed_without_request(server, opener, tmp_path):
    data = make_data(4000, 12)
    digest = digest_of(data)
    directory = tmp_path / "blobs" / "sha256"
    directory.mkdir(parents=True)
    (directory / f".{digest[7:]}.partial").write_bytes(data)
    result = fetch(opener, [{"digest": digest, "url": server.add("done", data), "size": len(data)}], tmp_path)
    assert result["blobs"][0]["status"] == "fetched" and result["blobs"][0]["bytes"] == 0
    assert server.requests() == [] and tree(directory) == [(digest[7:], len(data))]


def test_complete_partial_without_size_gets_416_and_is_kept(server, opener, tmp_path):
    data = make_data(4000, 13)
    digest = digest_of(data)
    directory = tmp_path / "blobs" / "sha256"
    directory.mkdir(parents=True)
    (directory / f".{digest[7:]}.partial").write_bytes(data)
    result = fetch(opener, [{"digest": digest, "url": server.add("done", data)}], tmp_path)
    assert result["blobs"][0]["status"] == "fetched"
    assert [r["status"] for r in server.requests()] == [416]
    assert tree(directory) == [(digest[7:], len(data))]


def test_wrong_partial_from_previous_run_is_discarded_and_fetched_again(server, opener, tmp_path):
    data = make_data(300_000, 14)
    digest = digest_of(data)
    directory = tmp_path / "blobs" / "sha256"
    directory.mkdir(parents=True)
    (directory / f".{digest[7:]}.partial").write_bytes(b"garbage" * 1000)
    result = fetch(opener, [{"digest": digest, "url": server.add("w", data)}], tmp_path, retries=1)
    blob = result["blobs"][0]
    assert blob["status"] == "fetched" and blob["resumed_from"] == 0
    assert [r["range"] for r in server.requests()] == ["bytes=7000-", None]
    assert (directory / digest[7:]).read_bytes() == data and tree(directory) == [(digest[7:], len(data))]


def test_200_answer_to_range_request_starts_over(server, opener, tmp_path):
    data = make_data(250_000, 15)
    digest = digest_of(data)
    directory = tmp_path / "blobs" / "sha256"
    directory.mkdir(parents=True)
    (directory / f".{digest[7:]}.partial").write_bytes(data[:100_000])
    server.plan("norange", {"ignore_range": True})
    result = fetch(opener, [{"digest": digest, "url": server.add("norange", data), "size": len(data)}], tmp_path)
    blob = result["blobs"][0]
    assert blob["status"] == "fetched" and blob["resumed_from"] == 0 and blob["bytes"] == len(data)
    assert [(r["range"], r["status"]) for r in server.requests()] == [("bytes=100000-", 200)]
    assert (directory / digest[7:]).read_bytes() == data


def test_403_says_url_expired_without_url(server, opener, tmp_path):
    data = make_data(1000, 16)
    digest = digest_of(data)
    server.plan("gone", {"status": 403})
    result = fetch(opener, [{"digest": digest, "url": server.add("gone", data)}], tmp_path, retries=3)
    failure = result["failures"][0]
    assert failure["digest"] == digest
    assert "expired or is not valid" in failure["error"] and "HTTP 403" in failure["error"]
    assert "Request has expired" in failure["error"]
    assert len(server.requests()) == 1, "a 403 is not retried"
    assert no_secret(result) and "gone" not in failure["error"]
    assert download_batch.failure_message(result["failures"], 1).count(digest) == 1


def test_500_is_retried(server, opener, tmp_path):
    data = make_data(1000, 17)
    server.plan("busy", {"status": 500}, {"status": 503})
    delays = []
    result = fetch(
        opener,
        [{"digest": digest_of(data), "url": server.add("busy", data)}],
        tmp_path,
        retries=2,
        retry_delay=0.001,
        sleep=delays.append,
    )
    assert result["blobs"][0]["status"] == "fetched" and len(server.requests()) == 3
    assert delays == [0.001, 0.002]


def test_500_out_of_retries(server, opener, tmp_path):
    data = make_data(1000, 18)
    server.plan("busy", *[{"status": 500}] * 3)
    result = fetch(opener, [{"digest": digest_of(data), "url": server.add("busy", data)}], tmp_path, retries=2)
    assert "HTTP 500" in result["failures"][0]["error"] and "after 3 attempts" in result["failures"][0]["error"]
    assert no_secret(result)


def test_connection_refused_names_no_url(opener, tmp_path):
    data = b"x"
    url = f"http://127.0.0.1:1/blob?{SECRET}"
    result = fetch(opener, [{"digest": digest_of(data), "url": url}], tmp_path, retries=1)
    assert "ConnectionRefusedError" in result["failures"][0]["error"] and no_secret(result)


def test_timeout_is_retried(server, tmp_path):
    data = make_data(2000, 19)
    server.plan("slow", {"delay": 1.5})
    opener = download_http.url_opener(timeout=0.5, allow_http=True)
    result = fetch(opener, [{"digest": digest_of(data), "url": server.add("slow", data)}], tmp_path, retries=1)
    assert result["blobs"][0]["status"] == "fetched"
    assert len(server.requests()) == 2


def test_some_fail_others_stay(server, opener, tmp_path):
    good, bad = make_data(1000, 20), make_data(1000, 21)
    server.plan("bad", {"status": 404})
    entries = [
        {"digest": digest_of(bad), "url": server.add("bad", bad)},
        {"digest": digest_of(good), "url": server.add("good", good)},
    ]
    result = fetch(opener, entries, tmp_path)
    assert [b["status"] for b in result["blobs"]] == ["failed", "fetched"]
    assert result["fetched"] == 1 and [f["digest"] for f in result["failures"]] == [digest_of(bad)]
    assert "HTTP 404" in result["failures"][0]["error"]
    assert tree(tmp_path / "blobs" / "sha256") == [(digest_of(good)[7:], 1000)]


def test_larger_than_size_is_refused(server, opener, tmp_path):
    data = make_data(1000, 22)
    result = fetch(
        opener, [{"digest": digest_of(data), "url": server.add("s", data), "size": 999}], tmp_path, retries=1
    )
    assert "the server announced 1000 bytes, more than the expected 999" in result["failures"][0]["error"]
    assert len(server.requests()) == 2 and result["bytes"] == 0
    assert tree(tmp_path / "blobs" / "sha256") == []


def test_smaller_object_than_size_is_refused(server, opener, tmp_path):
    data = make_data(1000, 23)
    result = fetch(
        opener, [{"digest": digest_of(data), "url": server.add("s", data), "size": 1001}], tmp_path, retries=3
    )
    assert (
        "the server has no more than 1000 bytes for this blob, but its size should be 1001"
        in result["failures"][0]["error"]
    )
    assert [(r["range"], r["status"]) for r in server.requests()] == [(None, 200), ("bytes=1000-", 416)]
    assert tree(tmp_path / "blobs" / "sha256") == []


def test_short_answer_is_resumed(server, opener, tmp_path):
    data = make_data(100_000, 24)
    server.plan("short", {"short": 40_000})
    result = fetch(opener, [{"digest": digest_of(data), "url": server.add("short", data), "size": len(data)}], tmp_path)
    assert result["blobs"][0]["status"] == "fetched" and result["blobs"][0]["resumed_from"] == 40_000
    assert [(r["range"], r["status"]) for r in server.requests()] == [(None, 200), ("bytes=40000-", 206)]


# --------------------------------------------------------------------------- concurrency and check mode


def test_concurrency_is_bounded(server, opener, tmp_path):
    server.delay = 0.05
    data = [make_data(1000, 100 + i) for i in range(10)]
    entries = [{"digest": digest_of(d), "url": server.add(f"c{i}", d)} for i, d in enumerate(data)]
    result = fetch(opener, entries, tmp_path, concurrency=3)
    assert result["fetched"] == 10
    assert server.max_in_flight == 3
    assert [b["digest"] for b in result["blobs"]] == [e["digest"] for e in entries]


def test_check_mode_writes_nothing(server, opener, tmp_path):
    present, missing, corrupt = make_data(1000, 30), make_data(2000, 31), make_data(3000, 32)
    fetch(opener, [{"digest": digest_of(present), "url": server.add("p", present)}], tmp_path)
    directory = tmp_path / "blobs" / "sha256"
    (directory / digest_of(corrupt)[7:]).write_bytes(b"wrong")
    (directory / f".{digest_of(missing)[7:]}.partial").write_bytes(missing[:10])
    before = tree(tmp_path)
    server.log.clear()
    entries = [
        {"digest": digest_of(present), "url": server.add("p", present)},
        {"digest": digest_of(missing), "url": server.add("m", missing), "size": 2000},
        {"digest": digest_of(corrupt), "url": server.add("c", corrupt)},
    ]
    result = fetch(opener, entries, tmp_path, check_mode=True)
    assert tree(tmp_path) == before and server.requests() == []
    assert [(b["status"], b["size"]) for b in result["blobs"]] == [
        ("present", 1000),
        ("would_fetch", 2000),
        ("would_fetch", None),
    ]
    assert result["blobs"][2]["replaced_corrupt"] is True and result["changed"] is True

    empty = tmp_path / "new"
    result = fetch(opener, entries, empty, check_mode=True)
    assert not empty.exists() and [b["status"] for b in result["blobs"]] == ["would_fetch"] * 3


# --------------------------------------------------------------------------- input


@pytest.mark.parametrize(
    "entries, expected",
    [
        ([], "blobs is empty"),
        (["sha256:" + "a" * 64], "blobs[0] must be a dict with a digest and a url, got a str"),
        ([{"url": "http://h/x"}], "blobs[0] has no digest"),
        ([{"digest": "sha256:12", "url": "http://h/x"}], "blobs[0].digest 'sha256:12' is not a valid sha256 digest"),
        (
            [{"digest": "md5:" + "a" * 32, "url": "http://h/x"}],
            "blobs[0].digest 'md5:" + "a" * 32 + "' uses the algorithm 'md5'",
        ),
        (
            [{"digest": "sha256:" + "a" * 64, "url": "ftp://h/x?" + SECRET}],
            "blobs[0].url (for sha256:" + "a" * 64 + ") is not an http",
        ),
        (
            [{"digest": "sha256:" + "a" * 64, "url": 5}],
            "blobs[0].url (for sha256:" + "a" * 64 + ") must be a string, got a int",
        ),
        ([{"digest": "sha256:" + "a" * 64, "url": "http://h/x", "size": -1}], "blobs[0].size -1 is not a size"),
        (
            [{"digest": "sha256:" + "a" * 64, "layer_digest": "sha256:" + "b" * 64, "url": "http://h/x"}],
            "blobs[0] has both digest and layer_digest",
        ),
        (
            [
                {"digest": "sha256:" + "a" * 64, "url": "http://h/x", "size": 1},
                {"digest": "sha256:" + "a" * 64, "size": 2},
            ],
            "blobs[1].size 2 differs from the size 1 of the same digest sha256:" + "a" * 64 + " in blobs[0]",
        ),
    ],
)
def test_invalid_input(entries, expected):
    with pytest.raises(ValidationError) as error:
        target_module.normalize_blobs(entries)
    assert expected in str(error.value)
    assert "AKIDUNITTESTSECRET" not in str(error.value)


def test_every_problem_is_reported():
    with pytest.raises(ValidationError) as error:
        target_module.normalize_blobs([{"digest": "sha256:1"}, {"digest": "sha256:" + "a" * 64}, {"digest": "x"}])
    assert (
        "blobs[0].digest" in str(error.value)
        and "blobs[2].digest" in str(error.value)
        and "blobs[1]" not in str(error.value)
    )


def test_merging_duplicates():
    digest = "sha256:" + "a" * 64
    merged = target_module.normalize_blobs(
        [{"digest": digest}, {"layer_digest": digest, "download_url": "https://h/x", "size": "7"}]
    )
    assert merged == [{"index": 0, "digest": digest, "url": "https://h/x", "size": 7}]


def test_missing_url_fails_before_any_request(server, opener, tmp_path):
    data = make_data(100, 40)
    entries = [{"digest": digest_of(data), "url": server.add("a", data)}, {"digest": "sha256:" + "c" * 64, "size": 5}]
    with pytest.raises(ValidationError) as error:
        fetch(opener, entries, tmp_path)
    assert str(error.value).startswith("blobs[1] (sha256:" + "c" * 64 + ") has no url, and is not present in dest")
    assert server.requests() == [] and not (tmp_path / "blobs").exists()


def test_scrub():
    text = f"<urlopen error GET http://127.0.0.1:9/b?{SECRET} failed> {SECRET}"
    cleaned = download_http.scrub(text)
    assert "127.0.0.1" not in cleaned and "AKIDUNITTESTSECRET" not in cleaned and "0123456789abcdef" not in cleaned
