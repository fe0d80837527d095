# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real containerd, dockerd and distribution registries, started as root in temporary directories.

Every daemon listens on a socket in its own directory or on 127.0.0.1, keeps its state in that
directory, and is stopped by ``Daemon.stop`` (the fixtures call it also when a test fails).
"""

import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request


class Daemon:
    """A background process with its log in ``directory/log``."""

    def __init__(self, name, argv, directory, env=None):
        self.name, self.argv, self.directory = name, argv, directory
        self.log_path = os.path.join(directory, f"{name}.log")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(  # pylint: disable=consider-using-with
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(os.environ, **(env or {})),
                start_new_session=True,
            )

    def wait_until(self, ready, timeout=30):
        """Poll ``ready()`` until it is true; fail with the daemon's log when it dies or times out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log()}")
            if ready():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} was not ready after {timeout} s:\n{self.log()}")

    def log(self):
        with open(self.log_path, "rb") as handle:
            return handle.read()[-4000:].decode("utf-8", "replace")

    def stop(self):
        """SIGTERM, then SIGKILL after 15 s; only this daemon's own process."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def is_socket(path):
    return os.path.exists(path) and not os.path.isfile(path)


def start_containerd(directory):
    """containerd with its own root, state and sockets; the CRI plugin is off."""
    config = os.path.join(directory, "containerd.toml")
    with open(config, "w", encoding="utf-8") as handle:
        handle.write(
            "version = 2\n"
            f'root = "{directory}/root"\nstate = "{directory}/state"\n'
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
            f'[grpc]\n  address = "{directory}/containerd.sock"\n'
            f'[ttrpc]\n  address = "{directory}/containerd.sock.ttrpc"\n'
            f'[debug]\n  address = "{directory}/debug.sock"\n'
        )
    daemon = Daemon("containerd", ["containerd", "--config", config], directory)
    daemon.socket = os.path.join(directory, "containerd.sock")
    return daemon.wait_until(lambda: is_socket(daemon.socket))


def start_dockerd(directory, containerd_socket, namespace=None):
    """dockerd on a unix socket of its own, with no network set-up, over the test's containerd; a second dockerd
    over the same containerd needs a ``namespace`` of its own there."""
    sock = os.path.join(directory, "docker.sock")
    argv = [
        "dockerd",
        "--data-root",
        f"{directory}/data",
        "--exec-root",
        f"{directory}/exec",
        "-H",
        f"unix://{sock}",
        "--pidfile",
        f"{directory}/docker.pid",
        "--iptables=false",
        "--bridge=none",
        "--containerd",
        containerd_socket,
        "--storage-driver",
        "vfs",
    ]
    if namespace:
        argv += ["--containerd-namespace", namespace, "--containerd-plugins-namespace", f"{namespace}-plugins"]
    daemon = Daemon("dockerd", argv, directory)
    daemon.host = f"unix://{sock}"
    client = docker_client()

    def ready():
        return (
            is_socket(sock)
            and subprocess.run([client, "-H", daemon.host, "version"], capture_output=True, check=False).returncode == 0
        )

    return daemon.wait_until(ready, timeout=60)


def docker_client():
    """Debian's docker client (20.10) when installed, else the first on PATH."""
    return "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else shutil.which("docker") or "docker"


def podman_environ(directory):
    """Environment that keeps podman's storage, registries and engine files in ``directory``."""
    files = {
        "storage.conf": f'[storage]\ndriver = "vfs"\ngraphroot = "{directory}/graph"\nrunroot = "{directory}/run"\n',
        "registries.conf": "unqualified-search-registries = []\n",
        "containers.conf": f'[engine]\ntmp_dir = "{directory}/tmp"\n',
        # Nothing but the loader's private dir: copies may be pulled.
        "policy.json": json.dumps(
            {"default": [{"type": "reject"}], "transports": {"dir": {"": [{"type": "insecureAcceptAnything"}]}}}
        ),
    }
    for name, text in files.items():
        with open(os.path.join(directory, name), "w", encoding="utf-8") as handle:
            handle.write(text)
    environ = {
        "CONTAINERS_STORAGE_CONF": f"{directory}/storage.conf",
        "CONTAINERS_REGISTRIES_CONF": f"{directory}/registries.conf",
        "CONTAINERS_CONF": f"{directory}/containers.conf",
        "TMPDIR": directory,
    }
    return environ, f"{directory}/policy.json"


def start_registry(directory, name, auth_yaml="", tls=None):
    """``docker-registry serve`` on 127.0.0.1: ``auth_yaml`` is its auth section, ``tls`` (cert, key) its TLS."""
    port = free_port()
    tls_yaml = f"  tls:\n    certificate: {tls[0]}\n    key: {tls[1]}\n" if tls else ""
    config = os.path.join(directory, f"{name}.yml")
    with open(config, "w", encoding="utf-8") as handle:
        handle.write(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {directory}/{name}-data\n"
            f"http:\n  addr: 127.0.0.1:{port}\n  secret: airgap-test-{name}\n{tls_yaml}{auth_yaml}"
        )
    daemon = Daemon(name, ["docker-registry", "serve", config], directory)
    daemon.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    daemon.hits = []

    def ready():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    return daemon.wait_until(ready)


def http_status(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # nosec: the test's own 127.0.0.1 registry
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


class DigestlessProxy:
    """A read-only proxy (GET, HEAD) in front of a registry that drops ``Docker-Content-Digest``,
    as some registries never send it."""

    def __init__(self, upstream):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                proxy.forward(self, "GET")

            def do_HEAD(self):
                proxy.forward(self, "HEAD")

            def log_message(self, format, *args):  # pylint: disable=redefined-builtin
                return

        self.upstream, self.methods = upstream, []
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def forward(self, handler, method):
        self.methods.append(method)
        request = urllib.request.Request(self.upstream + handler.path, method=method)
        for name in ("Accept", "Authorization"):
            if handler.headers.get(name):
                request.add_header(name, handler.headers[name])
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # nosec: the test's own registry
                status, headers, body = response.status, response.headers, response.read()
        except urllib.error.HTTPError as e:
            status, headers, body = e.code, e.headers, e.read()
        handler.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("docker-content-digest", "connection", "transfer-encoding"):
                handler.send_header(name, value)
        handler.end_headers()
        if method == "GET":
            handler.wfile.write(body)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
