# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A self-signed certificate for 127.0.0.1, made by openssl, for the tests' TLS servers."""

import subprocess


def self_signed_certificate(directory):
    """``(cert, key)`` paths (str) of a new self-signed certificate for 127.0.0.1 in ``directory``."""
    cert, key = str(directory / "cert.pem"), str(directory / "key.pem")
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert]
    command += ["-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    return cert, key
