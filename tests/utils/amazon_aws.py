# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Put amazon.aws into a collections tree without Ansible Galaxy.

The ``ansible`` package on PyPI bundles amazon.aws; its wheel is downloaded once (cached)
and only ``ansible_collections/amazon/aws/`` is extracted from it.

    python tests/utils/amazon_aws.py --cache .cache --dest build/ansible_collections
"""

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import zipfile

# ansible 12.3.0 bundles amazon.aws 10.1.2.
ANSIBLE_PACKAGE = "ansible==12.3.0"
PREFIX = "ansible_collections/amazon/aws/"


def wheel_path(cache):
    found = glob.glob(os.path.join(cache, "ansible-12.3.0-*.whl"))
    if found:
        return found[0]
    os.makedirs(cache, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "-d",
            cache,
            ANSIBLE_PACKAGE,
        ],
        check=True,
    )
    return glob.glob(os.path.join(cache, "ansible-12.3.0-*.whl"))[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cache", required=True, help="where the downloaded wheel is kept")
    parser.add_argument("--dest", required=True, help="the ansible_collections directory to fill")
    args = parser.parse_args()

    target = os.path.join(args.dest, "amazon", "aws")
    manifest = os.path.join(target, "MANIFEST.json")
    if os.path.exists(manifest):
        return
    with zipfile.ZipFile(wheel_path(args.cache)) as wheel:
        members = [name for name in wheel.namelist() if name.startswith(PREFIX)]
        staging = target + ".partial"
        shutil.rmtree(staging, ignore_errors=True)
        for name in members:
            relative = name[len(PREFIX) :]
            if not relative or name.endswith("/"):
                continue
            path = os.path.join(staging, relative)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with wheel.open(name) as source, open(path, "wb") as out:
                shutil.copyfileobj(source, out)
    os.replace(staging, target)
    with open(manifest, encoding="utf-8") as handle:
        version = json.load(handle)["collection_info"]["version"]
    print(f"amazon.aws {version} -> {target}")


if __name__ == "__main__":
    main()
