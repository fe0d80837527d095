# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""blob_receive through its real entry point: what a layout has, a sent copy taken in, bad input."""

import os

from ansible_collections.airgap.ecr.plugins.modules import blob_receive
from ansible_collections.airgap.ecr.tests.support.digests import digest_of
from ansible_collections.airgap.ecr.tests.support.digests import make_data
from ansible_collections.airgap.ecr.tests.support.modules import run_module

DATA = make_data(4096, 7)
DIGEST = digest_of(DATA)


def test_takes_in_a_sent_copy_with_the_mode_asked(tmp_path):
    staged = tmp_path / "sent"
    staged.write_bytes(DATA)
    dest = tmp_path / "layout"
    blobs = [dict(digest=DIGEST, size=len(DATA), staged=str(staged))]
    failed, result = run_module(blob_receive.main, dest=str(dest), blobs=blobs, mode="0640", dir_mode="0750")
    assert not failed, result
    assert result["received"] == 1 and result["changed"]
    path = dest / "blobs" / "sha256" / DIGEST.split(":")[1]
    assert path.read_bytes() == DATA
    assert oct(os.stat(path).st_mode & 0o777) == "0o640"
    assert oct(os.stat(dest / "blobs").st_mode & 0o777) == "0o750"
    failed, result = run_module(blob_receive.main, dest=str(dest), blobs=[dict(digest=DIGEST, size=len(DATA))])
    assert not failed and result["present"] == 1 and not result["changed"]


def test_a_refused_copy_fails_the_task_naming_the_blob(tmp_path):
    staged = tmp_path / "sent"
    staged.write_bytes(DATA[:-1])
    blobs = [dict(digest=DIGEST, size=len(DATA), staged=str(staged))]
    failed, result = run_module(blob_receive.main, dest=str(tmp_path / "layout"), blobs=blobs)
    assert failed
    assert result["msg"].startswith(f"Could not take in 1 of 1 blob(s): {DIGEST}: the copy received has 4095 bytes")
    assert result["blobs"][0]["status"] == "failed"


def test_bad_input_fails_before_anything_is_written(tmp_path):
    dest = tmp_path / "layout"
    failed, result = run_module(blob_receive.main, dest=str(dest), blobs=[dict(digest="sha256:00", size=1)])
    assert failed and "blobs[0].digest 'sha256:00' is not a valid sha256 digest" in result["msg"]
    failed, result = run_module(blob_receive.main, dest=str(dest), blobs=[dict(digest=DIGEST)])
    assert failed and "size" in result["msg"]
    assert not dest.exists()
