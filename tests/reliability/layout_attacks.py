# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The two sides of the layout races of test_security_layout.py, run as separate processes (and users).

``python layout_attacks.py victim-commit DEST ROUNDS``: write and commit one blob ROUNDS times with
mode 0644 (as the downloader does), printing how many commits were refused. ``attacker-swap DIR
NAME TARGET SECONDS``: keep replacing DIR/NAME with a symlink to TARGET. ``add-image DEST PREFIX COUNT
[ARCHIVE]``: add COUNT names PREFIX0, PREFIX1, ... to the layout at DEST (index.json and archive).
Not collected by pytest.
"""

import json
import os
import sys
import time


def victim_commit(dest, rounds):
    from ansible_collections.airgap.ecr.plugins.module_utils.digests import digest_of
    from ansible_collections.airgap.ecr.plugins.module_utils.layout import Layout

    try:
        layout = Layout(dest, strict_modes=False, file_mode=0o644)
    except TypeError:  # the layout owner before the security fixes (to check that the tests fail without them)
        layout = Layout(dest)
    data = b"the blob the victim downloads"
    digest = digest_of(data)
    refused = committed = 0
    for _round in range(rounds):
        try:
            with layout.blob_lock(digest):
                with layout.open_partial(digest, append=False) as out:
                    out.write(data)
                layout.commit_partial(digest)
            committed += 1
            os.unlink(layout.blob_path(digest))  # for the next round (unlink never follows a symlink)
        except OSError:  # LayoutError is one: a refusal
            refused += 1
        try:
            layout.remove_partial(digest)
        except OSError:
            pass
    print(json.dumps({"refused": refused, "committed": committed}))


def attacker_swap(directory, name, target, seconds):
    deadline = time.monotonic() + seconds
    count = 0
    while time.monotonic() < deadline:
        temporary = os.path.join(directory, f".attack.{os.getpid()}")
        try:
            os.symlink(target, temporary)
            os.rename(temporary, os.path.join(directory, name))
            count += 1
        except OSError:
            pass
    print(json.dumps({"swaps": count}))


def add_image(dest, prefix, count, archive):
    from ansible_collections.airgap.ecr.plugins.module_utils.image_layout import image_request
    from ansible_collections.airgap.ecr.plugins.module_utils.image_layout import write_image
    from ansible_collections.airgap.ecr.plugins.module_utils.layout import Layout

    with open(os.path.join(dest, "..", "manifest.json"), encoding="utf-8") as handle:
        manifest = handle.read()
    for index in range(count):
        params = dict(
            dest=dest,
            manifest=manifest,
            media_type=None,
            source_digest=None,
            ref_name=f"{prefix}{index}",
            platform=None,
            archive=archive or None,
            blobs=None,
        )
        write_image(Layout(dest), params, image_request(params), False)
    print(json.dumps({"added": count}))


if __name__ == "__main__":
    command, arguments = sys.argv[1], sys.argv[2:]
    if command == "victim-commit":
        victim_commit(arguments[0], int(arguments[1]))
    elif command == "attacker-swap":
        attacker_swap(arguments[0], arguments[1], arguments[2], float(arguments[3]))
    elif command == "add-image":
        add_image(arguments[0], arguments[1], int(arguments[2]), arguments[3] if len(arguments) > 3 else "")
