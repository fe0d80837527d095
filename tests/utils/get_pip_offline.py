# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline stand-in for the get-pip bootstrap script that ansible-test downloads.

ansible-test runs ``python get_pip_<version>.py [pip options] pip==X ... [--no-setuptools]
[--no-wheel]`` in a new virtual environment. The host it downloads the real script from
is not reachable here, so this installs pip with ``ensurepip`` and then asks that pip
to install the requested packages from the package index.
"""

import subprocess
import sys

BOOTSTRAP_ONLY_OPTIONS = {"--no-setuptools", "--no-wheel"}


def main():
    subprocess.run([sys.executable, "-m", "ensurepip", "--default-pip"], check=True, stdout=subprocess.DEVNULL)
    args = [arg for arg in sys.argv[1:] if arg not in BOOTSTRAP_ONLY_OPTIONS]
    subprocess.run([sys.executable, "-m", "pip", "install", *args], check=True)


if __name__ == "__main__":
    main()
