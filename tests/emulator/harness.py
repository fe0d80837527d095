# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start, drive and stop the ECR emulator (server.py beside this file).

As a library (tests, benchmarks)::

    with Emulator(seed_demo=True) as emu:
        ecr = emu.client("ecr")
        emu.faults(operation="GetDownloadUrlForLayer", count=2, code="ThrottlingException")
        ...

As a command (the Makefile)::

    python tests/emulator/harness.py start --dir DIR [--seed-demo] [--auth] [--region R] [--url-ttl S] [--port P]
    python tests/emulator/harness.py stop --dir DIR
    python tests/emulator/harness.py credentials

``start`` runs a detached server (pid in DIR/pid, port in DIR/port, log in DIR/server.log),
waits until it is ready and prints its endpoint URL; ``stop`` stops it (no error if it
is not running); ``credentials`` prints the emulator's full-access credentials as
AWS_* shell variable assignments (for ``eval``).
"""

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

try:
    from .service import credentials
except ImportError:  # run as a script: python tests/emulator/harness.py ...
    from service import credentials

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "server.py")
# Generous: moto and the demo images take a few seconds on a quiet machine, far more on a loaded one.
START_TIMEOUT = 120.0
DEFAULT_REGION = "us-east-1"

# The emulator's credential sets as client() keyword arguments (service/credentials.py has the table).
FULL_ACCESS = credentials.FULL_ACCESS
SESSION = credentials.SESSION
EXPIRED = credentials.EXPIRED
DENIED = credentials.DENIED


class EmulatorError(RuntimeError):
    """The emulator could not be started, or a control request failed."""


def server_command(port_file, options, port=0, python=None):
    """The command that starts server.py; ``options`` has the attributes seed_demo, auth, region, url_ttl, verbose.

    (An Emulator, or the parsed arguments of the ``start`` command.)
    """
    command = [
        python or sys.executable,
        SERVER,
        "--port-file",
        port_file,
        "--port",
        str(port),
        "--region",
        options.region,
    ]
    if options.seed_demo:
        command.append("--seed-demo")
    if options.auth:
        command.append("--auth")
    if options.url_ttl is not None:
        command.extend(["--url-ttl", str(options.url_ttl)])
    if options.verbose:
        command.append("--verbose")
    return command


def wait_for_port_file(path, process, log_path, timeout=START_TIMEOUT):
    """Wait until ``process`` wrote its port to ``path``; return the port, or raise EmulatorError with its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path, encoding="ascii") as handle:
                text = handle.read().strip()
            if text.isdigit():
                return int(text)
        if process.poll() is not None:
            raise EmulatorError(
                f"the emulator exited with status {process.returncode} before it was ready:\n{read_tail(log_path)}"
            )
        time.sleep(0.05)
    raise EmulatorError(f"the emulator was not ready after {timeout:.0f}s:\n{read_tail(log_path)}")


def read_tail(path, limit=8000):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()[-limit:]
    except OSError:
        return "(no log)"


def http_json(url, method="GET", body=None, timeout=30):
    """One JSON request; return (status, parsed body)."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        text = exc.read()
        try:
            return exc.code, json.loads(text)
        except ValueError:
            return exc.code, {"error": text.decode("utf-8", "replace")}


class Emulator:
    """One emulator process in a temporary directory; also a context manager."""

    def __init__(self, seed_demo=False, auth=False, region=DEFAULT_REGION, url_ttl=None, verbose=False, workdir=None):
        self.seed_demo = seed_demo
        self.auth = auth
        self.region = region
        self.url_ttl = url_ttl
        self.verbose = verbose
        self._workdir = workdir
        self._own_workdir = workdir is None
        self.process = None
        self.port = None
        self.log_path = None
        self._log = None

    @property
    def endpoint_url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        if self.process is not None:
            return self
        if self._workdir is None:
            self._workdir = tempfile.mkdtemp(prefix="airgap-ecr-emulator-")
        os.makedirs(self._workdir, exist_ok=True)
        port_file = os.path.join(self._workdir, "port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        self.log_path = os.path.join(self._workdir, "server.log")
        self._log = open(self.log_path, "wb")  # pylint: disable=consider-using-with
        command = server_command(port_file, self)
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)  # pylint: disable=consider-using-with
        try:
            self.port = wait_for_port_file(port_file, self.process, self.log_path)
        except EmulatorError:
            self.stop()
            raise
        return self

    def stop(self):
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=10)
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._own_workdir and self._workdir and os.path.isdir(self._workdir):
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        self.stop()

    def server_log(self):
        return read_tail(self.log_path) if self.log_path else ""

    # ------------------------------------------------------------------ control API

    def control(self, method, path, body=None):
        """Call the control API (``path`` relative to /_emulator/); return the parsed JSON.

        Raises EmulatorError on an error status.
        """
        url = f"{self.endpoint_url}/_emulator/{path.lstrip('/')}"
        status, payload = http_json(url, method=method, body=body)
        if status >= 400:
            raise EmulatorError(f"{method} {url} -> {status}: {payload}")
        return payload

    def health(self):
        return self.control("GET", "health")

    def faults(self, **rule):
        """With keyword arguments add a fault rule (see README.md) and return its id; without, list the rules."""
        if not rule:
            return self.control("GET", "faults")
        return self.control("POST", "faults", rule)["id"]

    def clear_faults(self):
        return self.control("DELETE", "faults")

    def requests(self, clear=False):
        entries = self.control("GET", "requests")
        if clear:
            self.clear_requests()
        return entries

    def clear_requests(self):
        return self.control("DELETE", "requests")

    def images(self):
        return self.control("GET", "images")

    def config(self, **changes):
        """With keyword arguments (url_ttl=...) change the config; return the config."""
        if changes:
            return self.control("POST", "config", changes)
        return self.control("GET", "config")

    def delete_blob(self, repository, digest):
        return self.control("POST", "blobs/delete", {"repository": repository, "digest": digest})

    def reset(self):
        return self.control("POST", "reset")

    # ------------------------------------------------------------------ clients

    def client(self, service="ecr", **kwargs):
        """A boto3 client for ``service`` pointed at the emulator (us-east-1, full-access credentials by default).

        Keyword arguments: aws_access_key_id, aws_secret_access_key, aws_session_token,
        region_name, config (a botocore Config).
        """
        import boto3
        import botocore.session
        from botocore.config import Config
        from botocore.configprovider import ConstantProvider

        credentials = {
            name: kwargs.pop(name)
            for name in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
            if name in kwargs
        }
        if not credentials:
            credentials = dict(FULL_ACCESS)
        region = kwargs.pop("region_name", DEFAULT_REGION)
        config = kwargs.pop("config", None)
        if service == "s3":
            config = (
                Config(s3={"addressing_style": "path"}).merge(config)
                if config
                else Config(s3={"addressing_style": "path"})
            )
        if kwargs:
            raise TypeError(f"unexpected arguments: {', '.join(sorted(kwargs))}")
        # Keep the user's AWS configuration files and profile out of it.
        core = botocore.session.Session()
        core.set_config_variable("config_file", os.devnull)
        core.set_config_variable("credentials_file", os.devnull)
        core.get_component("config_store").set_config_provider("profile", ConstantProvider(None))
        session = boto3.session.Session(botocore_session=core, region_name=region, **credentials)
        return session.client(service, endpoint_url=self.endpoint_url, config=config)


# ---------------------------------------------------------------------- command line


def _pid_of(directory):
    try:
        with open(os.path.join(directory, "pid"), encoding="ascii") as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def _is_our_server(pid, directory):
    """True if ``pid`` is alive and is the emulator started for ``directory`` (guards against a recycled pid)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            arguments = handle.read().split(b"\0")
    except OSError:
        return False
    return (
        any(arg.endswith(b"server.py") for arg in arguments) and os.path.join(directory, "port").encode() in arguments
    )


def cli_start(args):
    directory = os.path.abspath(args.dir)
    os.makedirs(directory, exist_ok=True)
    port_file = os.path.join(directory, "port")
    pid = _pid_of(directory)
    if pid and _is_our_server(pid, directory) and os.path.exists(port_file):
        with open(port_file, encoding="ascii") as handle:
            print(f"http://127.0.0.1:{handle.read().strip()}")
        return 0
    if os.path.exists(port_file):
        os.unlink(port_file)
    log_path = os.path.join(directory, "server.log")
    command = server_command(port_file, args, port=args.port)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(  # pylint: disable=consider-using-with
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    with open(os.path.join(directory, "pid"), "w", encoding="ascii") as handle:
        handle.write(f"{process.pid}\n")
    try:
        port = wait_for_port_file(port_file, process, log_path)
    except EmulatorError as exc:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        os.unlink(os.path.join(directory, "pid"))
        print(str(exc), file=sys.stderr)
        return 1
    print(f"http://127.0.0.1:{port}")
    return 0


def cli_stop(args):
    directory = os.path.abspath(args.dir)
    pid = _pid_of(directory)
    if pid and _is_our_server(pid, directory):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _is_our_server(pid, directory) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _is_our_server(pid, directory):
            os.kill(pid, signal.SIGKILL)
    for name in ("pid", "port"):
        try:
            os.unlink(os.path.join(directory, name))
        except FileNotFoundError:
            pass  # never started, or another stop got there first
    return 0


def cli_credentials():
    for name, value in credentials.environment().items():
        print(f"{name}={shlex.quote(value)}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description="Start or stop a detached airgap.ecr ECR emulator.")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="start a detached emulator and print its endpoint URL")
    start.add_argument("--dir", required=True, help="state directory (pid, port, server.log)")
    start.add_argument("--seed-demo", action="store_true", help="push airgap/demo:1.0 and airgap/demo:multi at start")
    start.add_argument("--auth", action="store_true", help="verify SigV4 on ECR requests")
    start.add_argument("--region", default=DEFAULT_REGION)
    start.add_argument("--url-ttl", type=int, default=None)
    start.add_argument("--port", type=int, default=0)
    start.add_argument("--verbose", action="store_true")
    stop = commands.add_parser("stop", help="stop the emulator started with the same --dir")
    stop.add_argument("--dir", required=True)
    commands.add_parser("credentials", help="print the full-access credentials as AWS_* shell variable assignments")
    args = parser.parse_args(argv)
    if args.command == "credentials":
        return cli_credentials()
    return cli_start(args) if args.command == "start" else cli_stop(args)


if __name__ == "__main__":
    sys.exit(main())
