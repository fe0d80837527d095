# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The bundle module through its entry point: each step's input checked, check mode, a symlink refused."""

import os

import pytest

from ansible_collections.airgap.ecr.plugins.modules.bundle import main
from ansible_collections.airgap.ecr.tests.support.modules import run_module
from ansible_collections.airgap.ecr.tests.unit.plugins.module_utils.test_bundle import make
from ansible_collections.airgap.ecr.tests.unit.plugins.module_utils.test_bundle import sample_content


@pytest.fixture(name="content")
def content_fixture():
    return sample_content()


def test_each_step_names_what_it_needs(tmp_path):
    for step, needs in (("plan", "dest"), ("pack", "dest and resolutions"), ("verify", "src")):
        failed, result = run_module(main, step=step)
        assert failed and result["msg"] == f"step={step} needs {needs}"
    failed, result = run_module(main, step="pack", dest=str(tmp_path / "b"), resolutions=[{}], part_size="4X")
    assert failed and "part_size '4X' is not a size" in result["msg"]


def test_plan_in_check_mode_creates_nothing(tmp_path):
    failed, result = run_module(main, check_mode=True, step="plan", dest=str(tmp_path / "b"))
    assert not failed and result["changed"] and result["base"] is None
    assert os.listdir(tmp_path) == []


def test_verify_in_check_mode_checks_the_parts_and_joins_nothing(tmp_path, content):
    make(tmp_path, "b1", content, part_size=4096)
    failed, result = run_module(
        main, check_mode=True, step="verify", src=str(tmp_path / "b1"), work_dir=str(tmp_path / "w")
    )
    assert not failed and result["layout"] is None and not result["changed"]
    assert not os.path.exists(tmp_path / "w")
    failed, result = run_module(main, step="verify", src=str(tmp_path / "b1"), work_dir=str(tmp_path / "w"))
    assert not failed and os.path.isfile(os.path.join(result["layout"], "index.json"))


def test_a_symlink_in_a_bundle_is_refused(tmp_path, content):
    make(tmp_path, "b1", content)
    os.symlink("/etc/passwd", str(tmp_path / "b1" / "layout" / "extra"))
    failed, result = run_module(main, step="verify", src=str(tmp_path / "b1"))
    assert failed and "extra is a symlink" in result["msg"]
