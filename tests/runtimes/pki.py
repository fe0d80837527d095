# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A CA and a server certificate for 127.0.0.1, and a token server for the registry's token auth.

The token server answers ``GET /token?service=&scope=`` on 127.0.0.1 for one user (basic auth),
with a JWT signed RS256 by a self-signed certificate the registry trusts (``rootcertbundle``) and
carried in the token's ``x5c`` header, granting what each requested scope asks.
"""

import base64
import datetime
import http.server
import ipaddress
import json
import os
import threading
import time
import urllib.parse
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

SERVICE = "airgap-test-registry"
ISSUER = "airgap-test-issuer"


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject, key, issuer, issuer_key, ca=False, sans=None):
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path, *items):
    with open(path, "wb") as handle:
        for item in items:
            if isinstance(item, x509.Certificate):
                handle.write(item.public_bytes(serialization.Encoding.PEM))
            else:
                handle.write(
                    item.private_bytes(
                        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                    )
                )
    return path


def make_tls(directory):
    """``(ca_file, cert_file, key_file)``: a CA and a certificate for 127.0.0.1 and localhost signed by it."""
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = _certificate("airgap test CA", ca_key, "airgap test CA", ca_key, ca=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = _certificate("127.0.0.1", key, "airgap test CA", ca_key, sans=sans)
    return (
        _write(os.path.join(directory, "ca.pem"), ca),
        _write(os.path.join(directory, "server.pem"), cert),
        _write(os.path.join(directory, "server.key"), key),
    )


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class TokenServer:
    """The registry's token server, in a thread; ``requests`` counts the tokens asked for."""

    def __init__(self, directory, username, password):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.cert = _certificate("airgap token signer", self.key, "airgap token signer", self.key)
        self.bundle = _write(os.path.join(directory, "token-signer.pem"), self.cert)
        self.username, self.password, self.requests = username, password, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.answer(self)

            def log_message(self, format, *args):  # pylint: disable=redefined-builtin
                return

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self.httpd.server_address[1]}/token"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def auth_yaml(self):
        return (
            f"auth:\n  token:\n    realm: {self.realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n"
            f"    rootcertbundle: {self.bundle}\n"
        )

    def answer(self, handler):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(handler.path).query)
        expected = "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        self.requests.append(query)
        if handler.headers.get("Authorization") != expected:
            handler.send_response(401)
            handler.end_headers()
            return
        body = json.dumps({"token": self.token(query.get("scope", []), query.get("service", [""])[0])}).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def token(self, scopes, service):
        access = []
        for scope in scopes:
            kind, name, actions = scope.split(":", 2) if scope.count(":") >= 2 else ("", "", "")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": self.username,
            "aud": service,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "access": access,
        }
        header = {
            "typ": "JWT",
            "alg": "RS256",
            "x5c": [base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()],
        }
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
