# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The relay as a process: started detached, found again, stopped; the ``blob_relay`` module's work.

``start()`` checks everything it can before anything runs (the layout, the TLS pair, the port),
binds the port itself (so that a port in use is a clear error), forks a detached server
(``relay_server.RelayServer``) on that socket, records it in a state file and returns once the
server answers. ``stop()`` stops exactly the process a state file names: its pid and its start time
must both match, so a pid the kernel has given to another process is never signalled. The state
files live in a private directory (``state_dir``, mode 0700, never through a symlink), one per
port, written atomically; they hold a hash of the prefix, never the prefix. Standard library only:
this runs on target hosts.
"""

import errno
import hashlib
import http.client
import json
import os
import signal
import socket
import ssl
import time

from ansible_collections.airgap.ecr.plugins.module_utils import layout_fs as fs
from ansible_collections.airgap.ecr.plugins.module_utils.layout import Layout
from ansible_collections.airgap.ecr.plugins.module_utils.relay_server import PREFIX_RE
from ansible_collections.airgap.ecr.plugins.module_utils.relay_server import RelayServer
from ansible_collections.airgap.ecr.plugins.module_utils.validation import ValidationError

DEFAULT_STATE_DIR = "~/.ansible/airgap_ecr_relay"
READY_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
_STATE_POLICY = fs.Policy(strict=True, file_mode=0o600, dir_mode=0o700)


class RelayError(Exception):
    """The relay cannot be started or stopped; the message says why, never with the prefix."""


def check_request(params):
    """The checks of the module's options before anything is opened; raises ValidationError."""
    if not 1 <= params["port"] <= 65535:
        raise ValidationError(f"port {params['port']!r} is out of range: give a TCP port from 1 to 65535")
    if params["state"] == "stopped":
        return
    if not PREFIX_RE.match(params.get("prefix") or ""):
        raise ValidationError(
            "prefix must be 22 to 128 URL-safe characters (A-Z, a-z, 0-9, '-', '_'), as secrets.token_urlsafe() "
            f"makes them; the one given has {len(params.get('prefix') or '')} characters or others"
        )
    if not params.get("address"):
        raise ValidationError("address is required with state=started: give the IP address the relay listens on")
    for name, minimum in (("idle_timeout", 1), ("lifetime", 1)):
        if params[name] < minimum:
            raise ValidationError(f"{name} {params[name]!r} is out of range: give at least {minimum} second")
    if bool(params.get("tls_cert")) != bool(params.get("tls_key")):
        raise ValidationError("tls_cert and tls_key go together: give both for HTTPS, or neither for plain HTTP")


def tls_context(cert, key):
    """The server's TLS context of a certificate chain and its key, or None without them."""
    if not cert:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as e:
        raise RelayError(f"tls_cert {cert} and tls_key {key} cannot be used: {type(e).__name__}: {e}") from None
    return context


def listen(address, port):
    """A socket bound to ``address``:``port`` and listening; a clear RelayError when it cannot be."""
    try:
        infos = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, _type, _proto, _name, sockaddr = infos[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except (OSError, IndexError) as e:
        raise RelayError(f"address {address!r} cannot be used to listen on: {e}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
        sock.listen(128)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise RelayError(
                f"port {port} on {address} is in use by another process: choose another port for the relay "
                "(image_fetch_relay_port), or stop what listens there"
            ) from None
        if e.errno == errno.EADDRNOTAVAIL:
            raise RelayError(
                f"address {address} is not an address of this host: the relay cannot listen on it"
            ) from None
        raise RelayError(f"cannot listen on {address} port {port}: {e.strerror or e}") from None
    sock.set_inheritable(True)
    return sock


# ---------------------------------------------------------------------- state files


def _state_dir(path):
    directory = os.path.expanduser(path)
    return fs.open_dir(directory, _STATE_POLICY, create=True), directory


def _state_name(port):
    return f"relay-{port}.json"


def read_state(state_dir, port):
    """The state file of the relay on ``port`` as a dict, or None."""
    dir_fd, directory = _state_dir(state_dir)
    try:
        name = _state_name(port)
        try:
            fd = fs.open_file(dir_fd, name, os.path.join(directory, name))
        except FileNotFoundError:
            return None
        with os.fdopen(fd, "r", encoding="utf-8") as handle:
            try:
                state = json.load(handle)
            except ValueError:
                return None
        return state if isinstance(state, dict) and isinstance(state.get("pid"), int) else None
    finally:
        os.close(dir_fd)


def write_state(state_dir, port, state):
    dir_fd, directory = _state_dir(state_dir)
    try:
        data = json.dumps(state, sort_keys=True).encode("utf-8")
        fs.atomic_write(dir_fd, directory, _state_name(port), lambda out: out.write(data), _STATE_POLICY)
    finally:
        os.close(dir_fd)


def remove_state(state_dir, port, pid):
    """Remove the state file of ``port`` if it still names ``pid``."""
    state = read_state(state_dir, port)
    if state is None or state.get("pid") != pid:
        return
    dir_fd, _directory = _state_dir(state_dir)
    try:
        fs.remove(dir_fd, _state_name(port))
    finally:
        os.close(dir_fd)


def process_start_time(pid):
    """The start time of process ``pid`` in clock ticks since boot (``/proc/<pid>/stat``), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = text.rsplit(")", 1)[-1].split()
    # Field 22 of the file is the start time; the fields after the name start at field 3.
    return int(fields[19]) if len(fields) > 19 and fields[0] != "Z" else None


def is_running(state):
    """Whether the process a state file names is running, and is that process (same start time)."""
    started = process_start_time(state["pid"])
    return started is not None and started == state.get("start_time")


def prefix_hash(prefix):
    return hashlib.sha256(prefix.encode("ascii")).hexdigest()


def _matches(state, params):
    """Whether a running relay's state file is this request's relay (same layout, address, TLS and prefix)."""
    wanted = dict(path=params["path"], address=params["address"], scheme=_scheme(params))
    same = all(state.get(key) == value for key, value in wanted.items())
    return same and state.get("prefix_sha256") == prefix_hash(params["prefix"])


def _scheme(params):
    return "https" if params.get("tls_cert") else "http"


# ---------------------------------------------------------------------- the process


def _detach(keep):
    """Make this process a daemon: stdio on /dev/null, every other descriptor but ``keep`` closed, cwd /."""
    os.chdir("/")
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 65536)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)


def spawn(sock, serve):
    """Run ``serve()`` in a detached grandchild (its own session, no stdio) that keeps ``sock``; its pid.

    The child in between exits at once, so the server is nobody's child and outlives the module; the
    server process always ends with ``os._exit`` (it never returns into the module's code).
    """
    read_fd, write_fd = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(read_fd)
            os.setsid()
            server = os.fork()
            if server == 0:
                os.close(write_fd)
                code = 1
                try:
                    _detach(keep=[sock.fileno()])
                    serve()
                    code = 0
                finally:
                    os._exit(code)
            os.write(write_fd, str(server).encode("ascii"))
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        text = pipe.read()
    os.waitpid(child, 0)
    if not text.isdigit():
        raise RelayError("the relay process could not be started (fork failed)")
    return int(text)


def _probe_host(address):
    if address in ("0.0.0.0", ""):
        return "127.0.0.1"
    return "::1" if address == "::" else address


def answers(scheme, address, port, prefix, timeout=2.0):
    """Whether an HTTP(S) server answers a HEAD at ``address``:``port`` (any status), without any proxy."""
    host = _probe_host(address)
    if scheme == "https":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # only whether it answers: the hosts verify the bytes by digest
        connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("HEAD", f"/{prefix}/")
        connection.getresponse().read()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def wait_until_answering(params, pid, start_time):
    """Wait for the new server's first answer; RelayError (after stopping it) when it does not come."""
    ends = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < ends:
        if answers(_scheme(params), params["address"], params["port"], params["prefix"]):
            return
        if process_start_time(pid) != start_time:
            raise RelayError(f"the relay process {pid} ended before it answered on port {params['port']}")
        time.sleep(0.1)
    terminate(dict(pid=pid, start_time=start_time))
    raise RelayError(f"the relay process {pid} did not answer on port {params['port']} within {READY_TIMEOUT} s")


def terminate(state):
    """Stop the process ``state`` names (SIGTERM, then SIGKILL); True when it was running."""
    if not is_running(state):
        return False
    pid = state["pid"]
    for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, STOP_TIMEOUT)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        ends = time.monotonic() + wait
        while time.monotonic() < ends:
            if not is_running(state):
                return True
            time.sleep(0.05)
    raise RelayError(f"the relay process {pid} did not stop after SIGTERM and SIGKILL")


def _serve_function(params, sock, context):
    path, prefix, port, state_dir = params["path"], params["prefix"], params["port"], params["state_dir"]

    def serve():
        layout = Layout(path, strict_modes=params["strict_modes"])
        try:
            RelayServer(sock, layout, prefix, context, params["idle_timeout"], params["lifetime"]).serve()
        finally:
            remove_state(state_dir, port, os.getpid())

    return serve


def _listen_once_freed(address, port, timeout):
    """``listen()``, tried again for up to ``timeout`` seconds: a relay just stopped can hold its port a moment after
    its process is reported gone (its other threads are still exiting)."""
    ends = time.monotonic() + timeout
    while True:
        try:
            return listen(address, port)
        except RelayError:
            if time.monotonic() >= ends:
                raise
            time.sleep(0.05)


def start(params):
    """Start the relay the module's parameters describe (or find it running); the module's result."""
    if not os.path.isdir(params["path"]):
        raise RelayError(f"path {params['path']} is not a directory: give the OCI layout whose blobs the relay serves")
    Layout(params["path"], strict_modes=params["strict_modes"]).check()
    result = dict(address=params["address"], port=params["port"], scheme=_scheme(params), replaced=None)
    result["origin"] = f"{result['scheme']}://{_url_host(params['address'])}:{params['port']}"
    existing = read_state(params["state_dir"], params["port"])
    if existing is not None and is_running(existing):
        if _matches(existing, params):
            return dict(result, changed=False, pid=existing["pid"])
        terminate(existing)  # this port's relay of an earlier play, which did not stop it
        result["replaced"] = existing["pid"]
    context = tls_context(params.get("tls_cert"), params.get("tls_key"))
    if result["replaced"] is None:
        sock = listen(params["address"], params["port"])
    else:
        sock = _listen_once_freed(params["address"], params["port"], STOP_TIMEOUT)
    try:
        pid = spawn(sock, _serve_function(params, sock, context))
    finally:
        sock.close()
    start_time = process_start_time(pid)
    state = dict(
        pid=pid,
        start_time=start_time,
        path=params["path"],
        address=params["address"],
        port=params["port"],
        scheme=result["scheme"],
        prefix_sha256=prefix_hash(params["prefix"]),
        started_at=int(time.time()),
        idle_timeout=params["idle_timeout"],
        lifetime=params["lifetime"],
    )
    write_state(params["state_dir"], params["port"], state)
    try:
        wait_until_answering(params, pid, start_time)
    except RelayError:
        remove_state(params["state_dir"], params["port"], pid)
        raise
    return dict(result, changed=True, pid=pid)


def stop(params):
    """Stop the relay on the port, exactly the process its state file names; the module's result."""
    state = read_state(params["state_dir"], params["port"])
    if state is None:
        return dict(changed=False, pid=None, port=params["port"], was_running=False)
    was_running = terminate(state)
    remove_state(params["state_dir"], params["port"], state["pid"])
    return dict(changed=True, pid=state["pid"], port=params["port"], was_running=was_running)


def _url_host(address):
    return f"[{address}]" if ":" in address else address
