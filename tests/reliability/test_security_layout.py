# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Issue 15's findings that belong to the layout owner (1, 2, 4, 7, 8, 9, 11, 12 and the archive part of 14).

Each test reproduces the attack or the fault against the real modules or the layout owner. The
symlink attacks and races run with root and with an unprivileged user as the victim, and with
``nobody`` as the attacker, in separate processes (``layout_attacks.py``); the races repeat
``scaled()`` times (many more under ``make stress``).
"""

import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile

import pytest

from ansible_collections.airgap.ecr.plugins.module_utils.digests import digest_of
from ansible_collections.airgap.ecr.plugins.module_utils.layout import Layout
from ansible_collections.airgap.ecr.plugins.module_utils.layout import LayoutError
from ansible_collections.airgap.ecr.plugins.modules import blob_fetch
from ansible_collections.airgap.ecr.plugins.modules import oci_layout
from ansible_collections.airgap.ecr.tests.reliability.conftest import COLLECTIONS_PATH
from ansible_collections.airgap.ecr.tests.reliability.conftest import run_module as run_target_module
from ansible_collections.airgap.ecr.tests.reliability.conftest import scaled


def run_module(main, check_mode=False, **args):
    """The module's real entry point; the blobs here are served over http on 127.0.0.1."""
    return run_target_module(main, check_mode, **dict({"allow_http": True}, **args))


HELPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "layout_attacks.py")
VICTIM_USER = "airgap-victim"
NOBODY = pwd.getpwnam("nobody")
CONFIG = b'{"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}'
LAYER = b"layer bytes " * 1000
REFUSED_URL = "http://127.0.0.1:9/never-requested"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="the attacks need root (the victim) and other users (the attackers)"
)


@pytest.fixture(scope="session", name="victim")
def victim_fixture():
    """An unprivileged user to be the victim (created with useradd when missing)."""
    try:
        pwd.getpwnam(VICTIM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", VICTIM_USER], check=True
        )
    return pwd.getpwnam(VICTIM_USER)


@pytest.fixture(name="shared")
def shared_fixture():
    """A directory every user can reach (pytest's tmp_path is root's own)."""
    path = tempfile.mkdtemp(prefix="airgap-security-", dir="/tmp")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def as_user(user, *arguments, background=False):
    """Run layout_attacks.py as ``user`` (a pwd entry, or None for root)."""
    command = [sys.executable, HELPER, *arguments]
    if user is not None:
        command = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups"] + command
    env = dict(os.environ, PYTHONPATH=COLLECTIONS_PATH)
    if background:
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # pylint: disable=consider-using-with
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def make_manifest():
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest_of(CONFIG),
                "size": len(CONFIG),
            },
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest_of(LAYER), "size": len(LAYER)}
            ],
        }
    )


def make_image(dest, **layout_options):
    """The config and layer in the layout at ``dest``; returns the manifest text."""
    layout = Layout(dest, **layout_options)
    layout.write_blob(CONFIG)
    layout.write_blob(LAYER)
    return make_manifest()


def put_secret(path, owner):
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("secret")
    os.chmod(path, 0o600)
    os.chown(path, owner.pw_uid if owner else 0, owner.pw_gid if owner else 0)


def assert_secret_intact(path):
    info = os.lstat(path)
    assert stat.S_IMODE(info.st_mode) == 0o600, f"{path} was chmod'ed through a symlink: {oct(info.st_mode)}"
    with open(path, encoding="utf-8") as handle:
        assert handle.read() == "secret", f"{path} was written through a symlink"


# --------------------------------------------------------------------------- finding 1: symlinks and strict modes


@pytest.mark.parametrize("case", ["owned by nobody", "group writable", "root is a symlink", "blobs is a symlink"])
def test_strict_modes_refuse_a_layout_another_user_could_change(case, tmp_path):
    dest = tmp_path / "layout"
    make_image(str(dest))
    expected = {
        "owned by nobody": "is owned by uid",
        "group writable": "is writable by its group",
        "root is a symlink": "is a symlink",
        "blobs is a symlink": "is a symlink",
    }[case]
    if case == "owned by nobody":
        os.chown(dest / "blobs" / "sha256", NOBODY.pw_uid, NOBODY.pw_gid)
    elif case == "group writable":
        os.chmod(dest / "blobs", 0o775)
    elif case == "root is a symlink":
        os.rename(dest, tmp_path / "real")
        os.symlink(tmp_path / "real", dest)
    else:
        os.rename(dest / "blobs", tmp_path / "blobs")
        os.symlink(tmp_path / "blobs", dest / "blobs")
    blobs = [{"digest": digest_of(CONFIG), "url": REFUSED_URL}]
    failed, result = run_module(blob_fetch.main, blobs=blobs, dest=str(dest))
    assert failed and expected in result["msg"] and "blobs" not in result, result
    failed, result = run_module(oci_layout.main, dest=str(dest), manifest=make_manifest(), ref_name="1.0")
    assert failed and expected in result["msg"], result
    if "symlink" not in case:  # the owner may accept it; a symlink is never followed
        failed, result = run_module(
            blob_fetch.main, blobs=[{"digest": digest_of(CONFIG)}], dest=str(dest), strict_modes=False
        )
        assert not failed and result["present"] == 1, result


def shared_layout(victim_kind, victim, shared):
    """``(victim user or None for root, secret file of the victim, layout, hex of the victim's blob)``.

    The layout's directories belong to nobody (the attacker) and anyone may write in them: a shared
    images directory, for which the victim opted out of strict modes.
    """
    user = victim if victim_kind == "unprivileged" else None
    secret = os.path.join(shared, "secret")
    put_secret(secret, user)
    dest = os.path.join(shared, "layout")
    os.makedirs(os.path.join(dest, "blobs", "sha256"))
    for directory in (dest, os.path.join(dest, "blobs"), os.path.join(dest, "blobs", "sha256")):
        os.chown(directory, NOBODY.pw_uid, NOBODY.pw_gid)
        os.chmod(directory, 0o777)
    return user, secret, dest, digest_of(b"the blob the victim downloads")[7:]


@pytest.mark.parametrize("victim_kind", ["root", "unprivileged"])
def test_planted_symlinks_are_never_followed(victim_kind, victim, shared):
    user, secret, dest, encoded = shared_layout(victim_kind, victim, shared)
    writable = os.path.join(shared, "victim-writable")  # where the victim may create files, and the attacker not
    os.mkdir(writable, 0o700)
    os.chown(writable, user.pw_uid if user else 0, user.pw_gid if user else 0)
    created = os.path.join(writable, "created-through-the-lock")
    as_user(NOBODY, "attacker-swap", os.path.join(dest, "blobs", "sha256"), f".{encoded}.partial", secret, "0.01")
    as_user(NOBODY, "attacker-swap", os.path.join(dest, "blobs", "sha256"), f".{encoded}.lock", created, "0.01")
    outcome = as_user(user, "victim-commit", dest, "1")
    assert_secret_intact(secret)
    assert not os.path.lexists(created), "a file was created through the planted lock symlink"
    assert outcome["refused"] == 1


@pytest.mark.parametrize("victim_kind", ["root", "unprivileged"])
def test_race_swapping_the_finished_partial_for_a_symlink(victim_kind, victim, shared, figures):
    user, secret, dest, encoded = shared_layout(victim_kind, victim, shared)
    rounds = scaled(300, 5000)
    attacker = as_user(
        NOBODY,
        "attacker-swap",
        os.path.join(dest, "blobs", "sha256"),
        f".{encoded}.partial",
        secret,
        str(scaled(5, 60)),
        background=True,
    )
    try:
        outcome = as_user(user, "victim-commit", dest, str(rounds))
    finally:
        swaps = json.loads(attacker.communicate(timeout=120)[0])["swaps"]
    assert_secret_intact(secret)
    assert swaps > 0 and outcome["committed"] + outcome["refused"] == rounds
    figures.add(
        "security", f"partial swapped for a symlink ({victim_kind}): refused commits of {rounds}", outcome["refused"]
    )


# ---------------------------------------------------------- findings 2, 4, 14: the archive and the layout lock


def test_archive_is_never_written_through_a_symlink(tmp_path):
    dest = tmp_path / "layout"
    manifest = make_image(str(dest))
    targets = {name: tmp_path / f"target-{name}" for name in ("fixed-temp", "archive")}
    for target in targets.values():
        put_secret(target, None)
    os.symlink(targets["fixed-temp"], tmp_path / ".image.tar.partial")
    os.symlink(targets["archive"], tmp_path / "image.tar")
    failed, result = run_module(
        oci_layout.main, dest=str(dest), manifest=manifest, ref_name="1.0", archive=str(tmp_path / "image.tar")
    )
    assert not failed, result
    for target in targets.values():
        assert_secret_intact(target)
    assert stat.S_ISREG(os.lstat(tmp_path / "image.tar").st_mode)
    with tarfile.open(tmp_path / "image.tar") as tar:
        assert f"blobs/sha256/{digest_of(LAYER)[7:]}" in tar.getnames()


@pytest.mark.parametrize("case", ["missing directory", "a directory"])
def test_archive_path_errors_are_messages(case, tmp_path):
    dest = tmp_path / "layout"
    manifest = make_image(str(dest))
    archive = tmp_path / "no-such-dir" / "image.tar" if case == "missing directory" else tmp_path
    failed, result = run_module(
        oci_layout.main, dest=str(dest), manifest=manifest, ref_name="1.0", archive=str(archive)
    )
    expected = "does not exist: create" if case == "missing directory" else "is a directory: give the path of a file"
    assert failed and expected in result["msg"] and str(archive) in result["msg"], result


@pytest.mark.parametrize("with_archive", [False, True])
def test_concurrent_runs_keep_every_name_and_one_archive(with_archive, shared, figures):
    dest = os.path.join(shared, "layout")
    manifest = make_image(dest)
    with open(os.path.join(shared, "manifest.json"), "w", encoding="utf-8") as handle:
        handle.write(manifest)
    archive = os.path.join(shared, "image.tar") if with_archive else ""
    rounds, names = scaled(2, 10), scaled(15, 40)
    for index in range(rounds):
        runs = [
            as_user(None, "add-image", dest, f"{side}{index}-", str(names), archive, background=True) for side in "ab"
        ]
        for run in runs:
            errors = run.communicate(timeout=300)[1]
            assert run.returncode == 0, errors
    with open(os.path.join(dest, "index.json"), encoding="utf-8") as handle:
        found = {m["annotations"]["org.opencontainers.image.ref.name"] for m in json.load(handle)["manifests"]}
    assert found == {f"{side}{index}-{name}" for side in "ab" for index in range(rounds) for name in range(names)}
    assert not with_archive or Layout(dest).archive_matches(archive)
    assert not [name for name in os.listdir(shared) if name.startswith(".")], os.listdir(shared)
    figures.add(
        "security", f"names added by two concurrent runs, archive {with_archive} (none lost)", 2 * rounds * names
    )


# --------------------------------------------------------------------------- finding 7: a tampered archive is repaired


def test_tampered_archive_is_repaired(tmp_path):
    dest = tmp_path / "layout"
    manifest = make_image(str(dest))
    archive = tmp_path / "image.tar"
    args = dict(dest=str(dest), manifest=manifest, ref_name="1.0", archive=str(archive))
    assert not run_module(oci_layout.main, **args)[0]
    good = archive.read_bytes()
    assert run_module(oci_layout.main, **args)[1]["changed"] is False
    offset = good.index(LAYER)
    archive.write_bytes(good[:offset] + b"L" + good[offset + 1 :])  # same names, same sizes, other bytes
    failed, result = run_module(oci_layout.main, **args)
    assert not failed and result["changed"] is True and str(archive) in result["files"]
    assert archive.read_bytes() == good


# --------------------------------------------------------------------------- finding 8: a broken index.json is refused


@pytest.mark.parametrize("content", [b"{not json", b"[]", b'{"manifests": "x"}', b'{"manifests": []}\xff\xfe'])
def test_broken_index_is_refused_with_its_name(content, tmp_path):
    dest = tmp_path / "layout"
    manifest = make_image(str(dest))
    (dest / "index.json").write_bytes(content)
    failed, result = run_module(oci_layout.main, dest=str(dest), manifest=manifest, ref_name="1.0")
    assert failed and str(dest / "index.json") in result["msg"], result
    assert (dest / "index.json").read_bytes() == content


# --------------------------------------------------------------------------- finding 9: modes, owner, group


def test_umask_is_honoured_and_parents_are_untouched(tmp_path):
    parent = tmp_path / "parent"
    parent.mkdir(mode=0o711)
    os.chmod(parent, 0o711)
    dest = parent / "new" / "layout"
    old = os.umask(0o027)
    try:
        manifest = make_manifest()
        blobs = [{"digest": digest_of(data), "url": REFUSED_URL} for data in (CONFIG, LAYER)]
        Layout(str(dest)).write_blob(CONFIG)
        Layout(str(dest)).write_blob(LAYER)
        failed, result = run_module(oci_layout.main, dest=str(dest), manifest=manifest, ref_name="1.0", blobs=blobs)
    finally:
        os.umask(old)
    assert not failed, result
    assert stat.S_IMODE(os.stat(parent).st_mode) == 0o711
    for directory in (parent / "new", dest, dest / "blobs", dest / "blobs" / "sha256"):
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o750, directory
    for path in [dest / "index.json", dest / "oci-layout", dest / "blobs" / "sha256" / digest_of(LAYER)[7:]]:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o640, path


def test_mode_owner_group_and_dir_mode(tmp_path):
    dest = tmp_path / "layout"
    manifest = make_image(str(dest))  # the blobs exist already, with the umask's mode
    args = dict(
        dest=str(dest),
        manifest=manifest,
        ref_name="1.0",
        archive=str(tmp_path / "image.tar"),
        mode="0600",
        dir_mode="0700",
        owner="nobody",
        group="nogroup",
    )
    failed, result = run_module(oci_layout.main, **args)
    assert not failed and result["changed"] is True, result
    for path in [
        dest / "index.json",
        dest / "oci-layout",
        tmp_path / "image.tar",
        dest / "blobs" / "sha256" / digest_of(LAYER)[7:],
    ]:
        info = os.stat(path)
        assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (0o600, NOBODY.pw_uid, NOBODY.pw_gid), path
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o755  # it existed: not touched
    assert run_module(oci_layout.main, **args)[1]["changed"] is False
    Layout(str(dest), dir_mode=0o700).write_blob(b"new")
    assert stat.S_IMODE(os.stat(dest / "blobs" / "sha256").st_mode) == 0o755
    Layout(str(tmp_path / "other"), dir_mode=0o700).write_blob(b"new")
    assert stat.S_IMODE(os.stat(tmp_path / "other" / "blobs" / "sha256").st_mode) == 0o700


# ---------------------------------------------------------- finding 11: verify and delete by fd, under the lock


def test_a_blob_with_a_wrong_declared_size_is_kept(tmp_path):
    dest = tmp_path / "layout"
    make_image(str(dest))
    path = dest / "blobs" / "sha256" / digest_of(LAYER)[7:]
    blobs = [{"digest": digest_of(LAYER), "url": REFUSED_URL, "size": len(LAYER) + 1}]
    failed, result = run_module(blob_fetch.main, blobs=blobs, dest=str(dest))
    assert failed and "the size given for this blob is wrong" in result["failures"][0]["error"], result
    assert path.read_bytes() == LAYER


def test_a_blob_another_run_verified_is_not_deleted(tmp_path):
    dest = str(tmp_path / "layout")
    digest = digest_of(LAYER)
    first = Layout(dest)
    path = first.blob_path(digest)
    os.makedirs(os.path.dirname(path))
    with open(path, "wb") as handle:
        handle.write(b"corrupt")
    assert first.verify_blob(digest)[0] is False  # this run found it corrupt ...
    second = Layout(dest)  # ... and another run replaced it with the good blob meanwhile
    with second.blob_lock(digest):
        second.remove_blob(digest)
        with second.open_partial(digest, append=False) as out:
            out.write(LAYER)
        second.commit_partial(digest)
    first.remove_blob(digest)  # the first run's delete, checked again under the lock
    with open(path, "rb") as handle:
        assert handle.read() == LAYER


# ---------------------------------------------------------- finding 12: descriptor digests are not paths


@pytest.mark.parametrize(
    "bad", ["sha256:../../../../etc", "sha256:" + "A" * 64, "md5:" + "0" * 32, "sha256:" + "0" * 63]
)
def test_descriptor_digests_are_validated_before_they_are_paths(bad, tmp_path):
    dest = tmp_path / "layout"
    make_image(str(dest))
    manifest = json.loads(make_manifest())
    manifest["layers"][0]["digest"] = bad
    failed, result = run_module(oci_layout.main, dest=str(dest), manifest=json.dumps(manifest), ref_name="1.0")
    assert failed and "layers[0].digest" in result["msg"] and bad in result["msg"], result
    assert not (dest / "index.json").exists()
    with pytest.raises(LayoutError, match="is not used as a path"):
        Layout(str(dest)).blob_path(bad)


def _verify_then_remove(dest, digest, start):
    """What a run does with a blob it finds in place, before it takes the blob's lock: verify, remove if wrong."""
    layout = Layout(dest)
    start.wait()
    try:
        if layout.blob_kind(digest) == "file" and not layout.verify_blob(digest)[0]:
            layout.remove_blob(digest)
    except FileNotFoundError:  # the other run removed the corrupt file first: that blob fails in this run
        pass


def _replace_under_lock(dest, digest, start):
    """What a run that holds the blob's lock does: remove a wrong file and put the verified blob in place."""
    layout = Layout(dest)
    start.wait()
    with layout.blob_lock(digest):
        if layout.blob_kind(digest) == "file" and not layout.verify_blob(digest)[0]:
            layout.remove_blob(digest)
        with layout.open_partial(digest, append=False) as out:
            out.write(LAYER)
        layout.commit_partial(digest)


def test_racing_runs_never_delete_a_verified_blob(tmp_path, figures):
    """Finding 11 with real processes: one run finds a corrupt blob while another replaces it with the good one."""
    import multiprocessing  # pylint: disable=import-outside-toplevel

    context = multiprocessing.get_context("fork")
    dest = str(tmp_path / "layout")
    digest = digest_of(LAYER)
    path = Layout(dest).blob_path(digest)
    os.makedirs(os.path.dirname(path))
    rounds, lost = scaled(60, 1000), 0
    for _round in range(rounds):
        with open(path, "wb") as handle:
            handle.write(b"corrupt" * 1000)
        start = context.Barrier(2)
        runs = [
            context.Process(target=work, args=(dest, digest, start))
            for work in (_verify_then_remove, _replace_under_lock)
        ]
        for run in runs:
            run.start()
        for run in runs:
            run.join(60)
            assert run.exitcode == 0, "a run failed: the other one removed a file it was verifying under its lock"
        if not os.path.exists(path):
            lost += 1
        else:
            with open(path, "rb") as handle:
                assert handle.read() == LAYER
    assert lost == 0, f"a verified blob was deleted by a racing run in {lost} of {rounds} rounds"
    figures.add("security", "rounds of a run removing a corrupt blob while another puts the good one", rounds)
