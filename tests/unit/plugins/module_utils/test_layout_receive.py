# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""layout_receive: which blobs a layout has, and taking in copies sent to the host (nothing unverified kept)."""

import os

import pytest

from ansible_collections.airgap.ecr.plugins.module_utils import layout_receive as receive
from ansible_collections.airgap.ecr.plugins.module_utils.layout import Layout
from ansible_collections.airgap.ecr.plugins.module_utils.validation import ValidationError
from ansible_collections.airgap.ecr.tests.support.digests import digest_of
from ansible_collections.airgap.ecr.tests.support.digests import make_data

DATA = make_data(700_000, 1)
DIGEST = digest_of(DATA)
OTHER = make_data(1000, 2)
OTHER_DIGEST = digest_of(OTHER)


@pytest.fixture(name="layout")
def layout_fixture(tmp_path):
    return Layout(str(tmp_path / "layout"))


def stage(tmp_path, data, name="sent"):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def final_and_side_files(layout):
    directory = os.path.join(layout.root, "blobs", "sha256")
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


def entries(*blobs):
    return receive.normalize_entries([dict(blob) for blob in blobs])


def test_bad_entries_are_all_reported_with_their_position():
    with pytest.raises(ValidationError) as caught:
        receive.normalize_entries(
            [dict(digest="sha256:abc", size=1), dict(digest=DIGEST, size=-1), "x", dict(digest=DIGEST, size=True)]
        )
    message = str(caught.value)
    assert "blobs[0].digest 'sha256:abc'" in message
    assert "blobs[1].size -1 is not a size" in message
    assert "blobs[2] must be a dict" in message
    assert "blobs[3].size True" in message
    with pytest.raises(ValidationError, match="blobs is empty"):
        receive.normalize_entries([])


def test_the_same_digest_twice_is_one_blob_and_must_agree_on_its_size():
    assert len(entries(dict(digest=DIGEST, size=5), dict(digest=DIGEST, size=5))) == 1
    with pytest.raises(ValidationError, match=r"blobs\[1\].size 6 differs from the size 5"):
        entries(dict(digest=DIGEST, size=5), dict(digest=DIGEST, size=6))


def test_inventory_tells_present_and_missing(layout):
    layout.write_blob(OTHER)
    result = receive.receive_blobs(
        layout, entries(dict(digest=DIGEST, size=len(DATA)), dict(digest=OTHER_DIGEST, size=len(OTHER)))
    )
    assert [e["status"] for e in result["blobs"]] == ["missing", "present"]
    assert (result["present"], result["missing"], result["received"], result["changed"]) == (1, 1, 0, False)
    assert result["free_bytes"] > 0


def test_a_corrupt_blob_is_removed_but_only_reported_in_check_mode(layout):
    layout.write_blob(OTHER)
    path = layout.blob_path(OTHER_DIGEST)
    with open(path, "r+b") as handle:
        handle.write(b"X")
    blobs = entries(dict(digest=OTHER_DIGEST, size=len(OTHER)))
    checked = receive.receive_blobs(layout, blobs, check_mode=True)
    assert checked["blobs"][0]["status"] == "missing" and checked["blobs"][0]["replaced_corrupt"]
    assert os.path.exists(path)
    result = receive.receive_blobs(layout, blobs)
    assert result["blobs"][0]["replaced_corrupt"] and result["changed"]
    assert not os.path.exists(path)


def test_a_sent_copy_is_verified_moved_in_and_removed(layout, tmp_path):
    staged = stage(tmp_path, DATA)
    result = receive.receive_blobs(layout, entries(dict(digest=DIGEST, size=len(DATA), staged=staged)))
    assert result["blobs"][0]["status"] == "received"
    assert (result["received"], result["bytes_received"], result["changed"]) == (1, len(DATA), True)
    assert layout.has_blob(DIGEST, len(DATA))
    assert final_and_side_files(layout) == [DIGEST.split(":")[1]]  # no .partial, no lock left
    assert not os.path.exists(staged)


@pytest.mark.parametrize(
    "damage, found",
    [
        (lambda data: data[:-1], "699999 bytes"),  # cut
        (lambda data: data + b"!", "more than 700000 bytes"),  # too long
        (lambda data: b"Y" + data[1:], "700000 bytes and the digest sha256:"),  # changed
    ],
)
def test_a_damaged_copy_is_refused_and_nothing_of_it_is_kept(layout, tmp_path, damage, found):
    staged = stage(tmp_path, damage(DATA))
    result = receive.receive_blobs(layout, entries(dict(digest=DIGEST, size=len(DATA), staged=staged)))
    entry = result["blobs"][0]
    assert entry["status"] == "failed"
    assert found in entry["error"] and "it is not kept" in entry["error"]
    assert result["failures"] == [dict(digest=DIGEST, error=entry["error"])]
    assert final_and_side_files(layout) == []
    assert not os.path.exists(staged)


def test_a_symlink_as_the_sent_copy_is_not_followed(layout, tmp_path):
    secret = stage(tmp_path, DATA, "secret")
    link = tmp_path / "link"
    link.symlink_to(secret)
    result = receive.receive_blobs(layout, entries(dict(digest=DIGEST, size=len(DATA), staged=str(link))))
    assert result["blobs"][0]["status"] == "failed" and "symlink" in result["blobs"][0]["error"]
    assert final_and_side_files(layout) == []
    assert os.path.exists(secret) and not os.path.lexists(link)


def test_a_missing_sent_copy_says_the_transfer_did_not_complete(layout, tmp_path):
    result = receive.receive_blobs(layout, entries(dict(digest=DIGEST, size=len(DATA), staged=str(tmp_path / "gone"))))
    assert "the transfer did not complete" in result["blobs"][0]["error"]


def test_a_blob_already_in_place_is_kept_and_the_copy_dropped(layout, tmp_path):
    layout.write_blob(DATA)
    before = os.stat(layout.blob_path(DIGEST)).st_ino
    staged = stage(tmp_path, b"not even read")
    result = receive.receive_blobs(layout, entries(dict(digest=DIGEST, size=len(DATA), staged=staged)))
    assert result["blobs"][0]["status"] == "present" and not result["changed"]
    assert os.stat(layout.blob_path(DIGEST)).st_ino == before
    assert not os.path.exists(staged)


def test_check_mode_writes_nothing_for_a_sent_copy(layout, tmp_path):
    staged = stage(tmp_path, DATA)
    result = receive.receive_blobs(layout, entries(dict(digest=DIGEST, size=len(DATA), staged=staged)), check_mode=True)
    assert result["blobs"][0]["status"] == "would_receive"
    assert not os.path.exists(layout.root)


def test_copies_that_do_not_fit_are_refused_before_any_is_taken_in(layout, tmp_path, monkeypatch):
    monkeypatch.setattr(Layout, "free_space", lambda self: 10)
    staged = stage(tmp_path, DATA)
    with pytest.raises(ValidationError, match="need 700000 bytes"):
        receive.receive_blobs(layout, entries(dict(digest=DIGEST, size=len(DATA), staged=staged)))
    assert final_and_side_files(layout) == []


def test_a_symlink_at_the_blob_path_fails_that_blob(layout, tmp_path):
    layout.write_blob(OTHER)
    os.symlink(str(tmp_path), layout.blob_path(DIGEST))
    result = receive.receive_blobs(layout, entries(dict(digest=DIGEST, size=len(DATA))))
    assert result["blobs"][0]["status"] == "failed"
    assert "is not a regular file" in result["blobs"][0]["error"]
