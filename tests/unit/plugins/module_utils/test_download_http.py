# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""download_http: the opener's TLS context, and what the target modules' payload imports."""

import os
import ssl
import subprocess
import sys

import pytest

from ansible_collections.airgap.ecr.plugins.module_utils import download_http

# The directory that holds ansible_collections/, for a fresh interpreter.
COLLECTIONS_ROOT = os.path.abspath(os.path.join(os.path.dirname(download_http.__file__), *[".."] * 5))


@pytest.mark.parametrize("module", ["oci_layout", "blob_fetch"])
def test_target_modules_do_not_import_ansible_urls(module):
    # ansible.module_utils.urls (and the cryptography package it loads) cost every module run on a
    # target about 0.1 CPU second; the downloader uses urllib directly.
    code = (
        f"import sys; import ansible_collections.airgap.ecr.plugins.modules.{module}; "
        "print(sorted(name for name in sys.modules if name == 'ansible.module_utils.urls' or name == 'cryptography'))"
    )
    env = dict(os.environ, PYTHONPATH=COLLECTIONS_ROOT)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stdout


def test_tls_context_verifies_by_default():
    context = download_http.tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_tls_context_without_validate_certs_checks_nothing():
    context = download_http.tls_context(validate_certs=False)
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname


def test_tls_context_falls_back_to_a_known_bundle(monkeypatch, tmp_path):
    # A Python whose OpenSSL has no default CA paths still verifies against the system's bundle.
    loaded = []
    monkeypatch.setattr(download_http, "_default_cas_exist", lambda: False)
    monkeypatch.setattr(download_http, "CA_BUNDLES", (str(tmp_path / "missing.pem"), "/the/bundle.pem"))
    monkeypatch.setattr(download_http.os.path, "isfile", lambda path: path == "/the/bundle.pem")
    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", lambda self, cafile=None: loaded.append(cafile))
    download_http.tls_context()
    assert loaded == ["/the/bundle.pem"]


def test_missing_ca_path_is_an_error():
    with pytest.raises(OSError):
        download_http.tls_context(ca_path="/nonexistent/ca.pem")
