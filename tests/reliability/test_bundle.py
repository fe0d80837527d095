# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Bundles end to end, with the real ``ansible-playbook``: airgap.ecr.bundle_create against the emulator,
airgap.ecr.bundle_deliver to two local hosts; a delta after one changed layer; parts split and joined; a
missing part, a corrupt part and a delta whose base a host lacks, each refused before anything is written.
Through a relay host (image_fetch_via=relay, the relay on 127.0.0.1): hosts of two platforms, a delta, a missing
part and image_fetch_via=direct refused.
"""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from ansible_collections.airgap.ecr.tests.emulator import images
from ansible_collections.airgap.ecr.tests.reliability.conftest import REGION
from ansible_collections.airgap.ecr.tests.reliability.conftest import tree_state
from ansible_collections.airgap.ecr.tests.reliability.conftest import unverified_final_files
from ansible_collections.airgap.ecr.tests.reliability.conftest import verify_layout
from ansible_collections.airgap.ecr.tests.reliability.test_relay import SECRET_URL_RE
from ansible_collections.airgap.ecr.tests.reliability.test_relay import free_port
from ansible_collections.airgap.ecr.tests.reliability.test_relay import listening
from ansible_collections.airgap.ecr.tests.support.credentials import environment

APP, TOOL = "bundle/app", "bundle/tool"


@pytest.fixture(scope="module", name="pushed")
def pushed_fixture(emulator):
    """app:1.0 (Docker) and tool:2.0 (OCI) sharing a base layer; app:1.1 is app:1.0 with its last layer changed."""
    client = emulator.client("ecr")
    base = images.make_layer(48 * 1024, 7100)
    app = [base, images.make_layer(96 * 1024, 7101)]
    tool = [base, images.make_layer(64 * 1024, 7102)]
    changed = [base, images.make_layer(96 * 1024, 7103)]
    return {
        "app": images.push_image(client, APP, "1.0", app, images.make_config(app), media_type="docker"),
        "tool": images.push_image(client, TOOL, "2.0", tool, images.make_config(tool), media_type="oci"),
        "app2": images.push_image(client, APP, "1.1", changed, images.make_config(changed), media_type="docker"),
    }


@pytest.fixture(name="run")
def run_fixture(emu, ansible, monkeypatch):
    """Run one of the collection's playbooks with extra variables (as JSON); the emulator's credentials in the env."""
    for name, value in environment().items():
        monkeypatch.setenv(name, value)

    def run(playbook, hosts=None, **variables):
        inventory = ansible.inventory(hosts) if hosts else None
        plays = [{"ansible.builtin.import_playbook": f"airgap.ecr.{playbook}"}]
        return ansible.run(plays, inventory, args=["-e", json.dumps(variables)])

    return run


def create(run, emu, dest, refs, **extra):
    variables = dict(bundle_images=refs, bundle_dest=str(dest), aws_region=REGION, allow_http=True)
    variables["aws_endpoint_url"] = emu.endpoint_url
    result = run("bundle_create", **variables, **extra)
    assert result.rc == 0, result
    with open(os.path.join(dest, "bundle.json"), encoding="utf-8") as handle:
        return json.load(handle)


def deliver(run, src, hosts, work_dir, platforms=None, **extra):
    """bundle_deliver to local hosts ({name: dest}), each of linux/amd64 unless ``platforms`` ({name: platform})
    says otherwise; ``extra``: more extra variables."""
    inventory = {
        name: {"dest": str(dest), "image_fetch_platform": (platforms or {}).get(name, "linux/amd64")}
        for name, dest in hosts.items()
    }
    return run(
        "bundle_deliver",
        hosts=inventory,
        bundle_src=str(src),
        bundle_work_dir=str(work_dir),
        airgap_hosts="fleet",
        image_fetch_dest="{{ dest }}",
        **extra,
    )


TWO = [{"repository": APP, "tag": "1.0"}, {"repository": TOOL, "tag": "2.0"}]


def create_base_and_delta(run, emu, tmp_path):
    """Bundle b1 of TWO, then b2, its delta after one changed layer (app:1.1); returns b2's description."""
    create(run, emu, tmp_path / "b1", TWO)
    return create(
        run,
        emu,
        tmp_path / "b2",
        [{"repository": APP, "tag": "1.1"}, {"repository": TOOL, "tag": "2.0"}],
        bundle_since=str(tmp_path / "b1"),
    )


def test_bundle_of_two_images_delivered_to_two_hosts(run, emu, tmp_path, pushed):
    bundle = create(run, emu, tmp_path / "b1", TWO)
    check = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=tmp_path / "b1", check=False)
    assert check.returncode == 0
    assert not os.path.exists(tmp_path / ".b1.partial")
    blobs = {blob["digest"] for blob in bundle["blobs"]}
    # The shared base layer once: 2 configs, 3 distinct layers.
    assert len(blobs) == 5 and all(blob["in_bundle"] for blob in bundle["blobs"])
    names = {image["name"] for image in bundle["images"]}
    pushed_digests = {pushed["app"]["image_digest"], pushed["tool"]["image_digest"]}
    assert {image["image_digest"] for image in bundle["images"]} == pushed_digests
    with open(tmp_path / "b1" / "layout" / "index.json", encoding="utf-8") as handle:
        index = json.load(handle)
    assert {entry["annotations"]["io.containerd.image.name"] for entry in index["manifests"]} == names
    assert "extends: nothing" in (tmp_path / "b1" / "SUMMARY.txt").read_text()

    hosts = {"h1": tmp_path / "h1", "h2": tmp_path / "h2"}
    result = deliver(run, tmp_path / "b1", hosts, tmp_path / "work")
    assert result.rc == 0, result
    for dest in hosts.values():
        for tag in ("1.0", "2.0"):
            verify_layout(str(dest), tag)
        for digest in blobs:
            assert os.path.isfile(os.path.join(dest, "blobs", *digest.split(":")))
    again = deliver(run, tmp_path / "b1", hosts, tmp_path / "work")
    assert again.rc == 0 and "changed=0" in again.output, again


def test_delta_holds_only_the_changed_layer_and_needs_its_base(run, emu, tmp_path, pushed):
    delta = create_base_and_delta(run, emu, tmp_path)
    inside = [blob for blob in delta["blobs"] if blob["in_bundle"]]
    changed = pushed["app2"]["layers"][1]["digest"]
    # Of the layers, only the changed one; besides it, only the new config (its diff_ids changed with the layer).
    assert [
        blob["digest"] for blob in inside if blob["digest"] in {layer["digest"] for layer in pushed["app2"]["layers"]}
    ] == [changed]
    assert sorted(blob["digest"] for blob in inside) == sorted([changed, pushed["app2"]["config"]["digest"]])
    assert delta["base"]["name"] == "b1" and delta["base"]["id"]
    on_disk = set(os.listdir(tmp_path / "b2" / "layout" / "blobs" / "sha256"))
    expected = {blob["digest"].split(":")[1] for blob in inside}
    expected |= {image["image_digest"].split(":")[1] for image in delta["images"]}
    assert on_disk == expected

    # A host without the base is refused, with the base's id and name, and nothing is written on it.
    refused = deliver(run, tmp_path / "b2", {"fresh": tmp_path / "fresh"}, tmp_path / "work")
    assert refused.rc != 0
    assert delta["base"]["id"] in refused.text and "(b1," in refused.text, refused
    assert not os.path.exists(tmp_path / "fresh")

    # A host with the base takes the delta.
    assert deliver(run, tmp_path / "b1", {"h1": tmp_path / "h1"}, tmp_path / "work").rc == 0
    result = deliver(run, tmp_path / "b2", {"h1": tmp_path / "h1"}, tmp_path / "work")
    assert result.rc == 0, result
    verify_layout(str(tmp_path / "h1"), "1.1")


def test_parts_are_joined_and_a_missing_or_corrupt_part_is_refused(run, emu, tmp_path, pushed):
    bundle = create(run, emu, tmp_path / "b1", TWO, bundle_part_size="64K")
    parts = bundle["parts"]["files"]
    assert len(parts) >= 3 and not os.path.exists(tmp_path / "b1" / "layout")
    assert all(part["size"] <= 64 * 1024 for part in parts)
    hosts = {"h1": tmp_path / "h1", "h2": tmp_path / "h2"}
    result = deliver(run, tmp_path / "b1", hosts, tmp_path / "work")
    assert result.rc == 0, result
    for dest in hosts.values():
        verify_layout(str(dest), "1.0")
        verify_layout(str(dest), "2.0")

    others = {"h3": tmp_path / "h3", "h4": tmp_path / "h4"}
    missing = tmp_path / "missing"
    shutil.copytree(tmp_path / "b1", missing)
    os.remove(missing / parts[1]["name"])
    refused = deliver(run, missing, others, tmp_path / "work-missing")
    assert refused.rc != 0 and f"{parts[1]['name']} is missing" in refused.text, refused

    corrupt = tmp_path / "corrupt"
    shutil.copytree(tmp_path / "b1", corrupt)
    with open(corrupt / parts[-1]["name"], "r+b") as handle:
        handle.seek(100)
        byte = handle.read(1)
        handle.seek(100)
        handle.write(bytes([byte[0] ^ 0xFF]))
    refused = deliver(run, corrupt, others, tmp_path / "work-corrupt")
    assert refused.rc != 0 and f"{parts[-1]['name']} is corrupt" in refused.text, refused
    for dest in others.values():
        assert tree_state(str(dest)) == [["(absent)"]]
    assert not os.path.exists(tmp_path / "work-missing") and not os.path.exists(tmp_path / "work-corrupt")


def test_a_blob_changed_after_the_verification_is_refused_on_the_host(ansible, emu, run, tmp_path, pushed):
    """The bytes sent are checked on the host against the digest, not against the controller's file: a blob of the
    verified layout changed before it is sent (a bundle on writable media) is refused, and nothing is laid out."""
    create(run, emu, tmp_path / "b1", TWO)
    base = pushed["app"]["layers"][0]["digest"]
    blob = tmp_path / "b1" / "layout" / "blobs" / "sha256" / base.split(":")[1]
    flip = "import sys; f = open(sys.argv[1], 'r+b'); b = f.read(1); f.seek(0); f.write(bytes([b[0] ^ 1]))"
    play = {
        "hosts": "fleet",
        "gather_facts": False,
        "tasks": [
            {
                "name": "Verify the bundle",
                "airgap.ecr.bundle": {"step": "verify", "src": str(tmp_path / "b1"), "work_dir": str(tmp_path / "w")},
                "delegate_to": "localhost",
                "run_once": True,
                "register": "verified",
            },
            {
                "name": "Change a blob of the verified layout",
                "ansible.builtin.command": {"argv": [sys.executable, "-c", flip, str(blob)]},
                "delegate_to": "localhost",
                "run_once": True,
            },
            {
                "name": "Deliver",
                "ansible.builtin.include_role": {"name": "airgap.ecr.image_fetch", "tasks_from": "bundle"},
                "vars": {
                    "image_fetch__bundle": "{{ verified }}",
                    "image_fetch_dest": "{{ dest }}",
                    "image_fetch_platform": "linux/amd64",
                },
            },
        ],
    }
    dest = tmp_path / "h1"
    result = ansible.run([play], ansible.inventory({"h1": {"dest": str(dest)}}))
    assert result.rc != 0 and base in result.text, result
    assert not os.path.exists(dest / "blobs" / "sha256" / base.split(":")[1])
    assert not os.path.exists(dest / "index.json")
    store = dest / "blobs" / "sha256"
    assert not store.exists() or [name for name in os.listdir(store) if name.startswith(".")] == []


# --------------------------------------------------------------------------- through a relay host


def relay_vars(port, relay="r"):
    """bundle_deliver's variables for image_fetch_via=relay, the relay on 127.0.0.1:``port``."""
    return dict(
        image_fetch_via="relay",
        image_fetch_relay_host=relay,
        image_fetch_relay_address="127.0.0.1",
        image_fetch_relay_port=port,
    )


def summary_line(result, host):
    """The summary's line of ``host``: its images, blobs sent from the controller and fetched from the relay."""
    found = re.search(rf'"{host}: (\d+) image\(s\) for (\S+) in [^,]+, ([^"]*)"', result.output)
    assert found, result
    return found.group(3)


def blob_names(dest):
    return set(os.listdir(os.path.join(dest, "blobs", "sha256")))


@pytest.fixture(name="relay_home")
def relay_home_fixture(tmp_path, monkeypatch):
    """A HOME of the test's own; returns the directory of the relay's state files (~/.ansible/airgap_ecr_relay)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home / ".ansible" / "airgap_ecr_relay"


def test_a_bundle_through_a_relay_host_to_hosts_of_two_platforms(run, emu, tmp_path, relay_home):
    """The relay host (amd64) gets every blob that a host lacks from the controller, once, the arm64 ones too, and
    serves them; the others fetch theirs from it and nothing from the controller. A part missing, or
    image_fetch_via=direct, is refused before any host task."""
    platforms = {"arm": "linux/arm64/v8"}
    refs = [{"repository": images.DEMO_REPOSITORY, "tag": images.DEMO_MULTI_TAG}]
    bundle = create(
        run, emu, tmp_path / "b", refs, bundle_platforms=["linux/amd64", "linux/arm64/v8"], bundle_part_size="16K"
    )
    own = {image["platform"]: {digest.split(":")[1] for digest in image["blobs"]} for image in bundle["images"]}
    assert len(own) == 2 and not own["linux/amd64"] & own["linux/arm64/v8"]
    hosts = {name: tmp_path / name for name in ("r", "arm", "amd")}
    port = free_port()
    result = deliver(run, tmp_path / "b", hosts, tmp_path / "work", platforms=platforms, **relay_vars(port))
    assert result.rc == 0, result
    for dest in hosts.values():
        verify_layout(str(dest), images.DEMO_MULTI_TAG)
    # The relay host holds the blobs of both platforms; the others only their own platform's.
    assert own["linux/amd64"] | own["linux/arm64/v8"] <= blob_names(hosts["r"])
    assert not own["linux/amd64"] & blob_names(hosts["arm"]) and not own["linux/arm64/v8"] & blob_names(hosts["amd"])
    relay_bytes = sum(blob["size"] for blob in bundle["blobs"])
    assert summary_line(result, "r") == f"6 blob(s) sent from the controller, {relay_bytes} bytes", result
    for name in ("arm", "amd"):
        assert re.fullmatch(
            r"0 blob\(s\) sent from the controller, 0 bytes, 3 fetched from the relay host r, \d+ bytes",
            summary_line(result, name),
        ), result
    assert not listening(port) and os.listdir(relay_home) == [], "the relay still runs after the play"
    assert not SECRET_URL_RE.search(result.text), "a relay URL is in the output"

    # A bundle with a part missing is refused before any task on a host: nothing written, no relay started.
    missing = tmp_path / "missing"
    shutil.copytree(tmp_path / "b", missing)
    part = bundle["parts"]["files"][1]["name"]
    os.remove(missing / part)
    others = {name: tmp_path / name for name in ("r2", "x")}
    refused = deliver(run, missing, others, tmp_path / "work2", **relay_vars(port, relay="r2"))
    assert refused.rc != 0 and f"{part} is missing" in refused.text, refused
    assert "airgap.ecr.image_fetch :" not in refused.output, refused
    for dest in others.values():
        assert tree_state(str(dest)) == [["(absent)"]]

    # image_fetch_via=direct means S3, which a bundle does not use: refused at once.
    refused = deliver(run, tmp_path / "b", others, tmp_path / "work2", image_fetch_via="direct")
    assert refused.rc != 0 and "image_fetch_via direct cannot deliver a bundle" in refused.output, refused
    assert "airgap.ecr.image_fetch :" not in refused.output, refused
    assert all(tree_state(str(dest)) == [["(absent)"]] for dest in others.values())
    assert not listening(port) and os.listdir(relay_home) == []


def test_a_delta_through_a_relay_host_is_refused_on_a_host_without_its_base(run, emu, tmp_path, pushed, relay_home):
    """Through a relay: the first bundle to the relay host and two others; then its delta to them and to a host
    without the base, which is refused naming the base (nothing written there), and one of them fails its download
    from the relay, while the others take the delta (the relay host only its two blobs, the other host only from the
    relay); the relay is stopped after the failed play."""
    delta = create_base_and_delta(run, emu, tmp_path)
    hosts = {"r": tmp_path / "r", "h2": tmp_path / "h2"}
    port = free_port()
    loose = tmp_path / "loose"
    first = deliver(run, tmp_path / "b1", dict(hosts, loose=loose), tmp_path / "work", **relay_vars(port))
    assert first.rc == 0, first
    for dest in [*hosts.values(), loose]:
        verify_layout(str(dest), "1.0")
        verify_layout(str(dest), "2.0")
    assert summary_line(first, "r").startswith("5 blob(s) sent from the controller, "), first
    assert re.fullmatch(
        r"0 blob\(s\) sent from the controller, 0 bytes, 5 fetched from the relay host r, \d+ bytes",
        summary_line(first, "h2"),
    ), first

    # "loose" has the base, but its layout's directory is writable by others now: its download from the relay is
    # refused while the relay runs.
    os.chmod(loose, 0o777)
    everyone = dict(hosts, fresh=tmp_path / "fresh", loose=loose)
    result = deliver(run, tmp_path / "b2", everyone, tmp_path / "work", **relay_vars(port))
    assert result.rc != 0, result
    assert delta["base"]["id"] in result.text and "(b1," in result.text and "fresh lacks" in result.text, result
    assert "from the relay host r (http://127.0.0.1:" in result.text, result
    with open(loose / "index.json", encoding="utf-8") as handle:
        refs = {entry["annotations"]["org.opencontainers.image.ref.name"] for entry in json.load(handle)["manifests"]}
    assert refs == {"1.0", "2.0"} and not unverified_final_files(str(loose))
    assert tree_state(str(tmp_path / "fresh")) == [["(absent)"]]
    for dest in hosts.values():
        verify_layout(str(dest), "1.1")
    changed = pushed["app2"]["layers"][1]["digest"]
    sent = sum(blob["size"] for blob in delta["blobs"] if blob["in_bundle"])
    assert summary_line(result, "r") == f"2 blob(s) sent from the controller, {sent} bytes", result
    assert summary_line(result, "h2") == (
        f"0 blob(s) sent from the controller, 0 bytes, 2 fetched from the relay host r, {sent} bytes"
    ), result
    assert changed.split(":")[1] in blob_names(hosts["h2"])
    assert not listening(port) and os.listdir(relay_home) == [], "the relay still runs after the failed play"
    assert not SECRET_URL_RE.search(result.text), "a relay URL is in the output"
