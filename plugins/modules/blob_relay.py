#!/usr/bin/python

# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: blob_relay
version_added: 0.2.0
short_description: Serve the blobs of an OCI image layout to the other hosts of a play, for the play's duration
description:
  - With O(state=started), starts a detached HTTP server on the target host (the I(relay host)) that serves the blobs
    of the OCI image layout at O(path), C(blobs/<algorithm>/<hex>), read only, to the other hosts of the play. They
    download from it with M(airgap.ecr.oci_layout) or M(airgap.ecr.blob_fetch) and verify every byte against its
    digest, as they do from S3. This is how the role C(airgap.ecr.image_fetch) fetches once and fans out inside a
    network with C(image_fetch_via=relay).
  - Only C(GET) and C(HEAD) of C(/<prefix>/blobs/<algorithm>/<hex>) are answered, with single byte ranges (C(Range))
    for resumed and parallel downloads. Every other path, method or digest is answered 404 with an empty body.
    O(prefix) is a per-play secret; nothing else can use the server without it. The server logs nothing.
  - A blob is opened relative to the layout's directory descriptors, never through a symlink; a symlink or any
    other non-file planted at a blob's name is answered 404.
  - The server binds O(address) and O(port) before the module returns, so a port in use fails the task with a clear
    message, and the module returns only once the server answers.
  - The server stops by itself after O(idle_timeout) seconds without a request, and after O(lifetime) seconds in
    any case, so that a play that was killed does not leave it running. O(state=stopped) stops it at once.
  - The server's process is recorded in a state file in O(state_dir), one per port (its pid and start time, and a
    hash of O(prefix), never O(prefix)). O(state=stopped) stops exactly that process and never another one that
    has been given the same pid since.
  - With O(state=started), a running relay of the same layout, address, scheme and prefix on O(port) is left as it is
    (no change); a relay of another prefix on O(port) (of an earlier play that did not stop it) is stopped and
    replaced.
author:
  - airgap.ecr maintainers (@airgap-ecr)
options:
  state:
    description: Whether the relay on O(port) should be running.
    type: str
    choices: [started, stopped]
    default: started
  path:
    description:
      - The root directory of the OCI image layout whose blobs are served (the O(airgap.ecr.oci_layout#module:dest)
        of the download). Required with O(state=started).
    type: path
  address:
    description:
      - The IP address (or host name) to listen on; V(0.0.0.0) or V(::) listen on every address of the host.
        Required with O(state=started).
    type: str
  port:
    description: The TCP port to listen on. It also names the relay for O(state=stopped).
    type: int
    required: true
  prefix:
    description:
      - The secret first part of every path, 22 to 128 URL-safe characters, such as C(secrets.token_urlsafe())
        makes them (the role makes a new one for each play). Required with O(state=started).
      - It is a credential; it never appears in the module's result, messages or state file.
    type: str
  tls_cert:
    description:
      - A PEM certificate chain for HTTPS, with O(tls_key). Without them, the relay speaks plain HTTP.
      - Plain HTTP is a trade-off that is safe for integrity but not for confidentiality, and relies on the prefix
        staying secret. Every blob is verified against its digest on the host that receives it, so a changed byte is
        refused; but anyone who can watch the network sees the blobs and the prefix, and can then read the other
        blobs of the layout until the relay stops. Use TLS when the image's content or the network are not trusted.
    type: path
  tls_key:
    description: The private key of O(tls_cert) (PEM).
    type: path
  idle_timeout:
    description: The server stops after this many seconds without any request or open download.
    type: int
    default: 900
  lifetime:
    description: The server stops after this many seconds, whatever it is doing.
    type: int
    default: 21600
  state_dir:
    description:
      - The directory of the state files, created with mode C(0700) when missing. It must not be writable by
        another user, and is never reached through a symlink.
    type: path
    default: ~/.ansible/airgap_ecr_relay
  strict_modes:
    description:
      - Refuse to serve a layout that another user could change (see O(airgap.ecr.oci_layout#module:strict_modes)).
    type: bool
    default: true
attributes:
  check_mode:
    support: none
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - The server is a Python process of the standard library, started from the module by a double fork; it needs
    Linux C(/proc) to be told apart from another process with the same pid.
  - Run it with C(no_log=true) on the task. O(prefix) is masked by the module, but Ansible shows a task's arguments
    in other places (for example with C(-vvv) or a failing template).
seealso:
  - module: airgap.ecr.oci_layout
  - module: airgap.ecr.blob_fetch
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Serve the relay host's layout to the other hosts of the play
  airgap.ecr.blob_relay:
    path: /srv/images
    address: 10.0.0.5
    port: 8710
    prefix: "{{ relay_prefix }}"  # lookup('ansible.builtin.password', '/dev/null', chars=['ascii_letters'], length=32)
  no_log: true
  when: inventory_hostname == 'relay1'

- name: Stop it
  airgap.ecr.blob_relay:
    state: stopped
    port: 8710
  when: inventory_hostname == 'relay1'
"""

RETURN = r"""
pid:
  description: The pid of the server process (None when O(state=stopped) found no relay on O(port)).
  returned: always
  type: int
port:
  description: The port of the relay.
  returned: always
  type: int
address:
  description: The address the relay listens on.
  returned: when O(state=started)
  type: str
scheme:
  description: V(http) or V(https).
  returned: when O(state=started)
  type: str
origin:
  description: C(<scheme>://<address>:<port>), the relay's origin, without the secret prefix.
  returned: when O(state=started)
  type: str
replaced:
  description: The pid of a relay of another prefix that was running on O(port) and was stopped, or None.
  returned: when O(state=started)
  type: int
was_running:
  description: With O(state=stopped), whether the relay's process was still running (it may have stopped by itself).
  returned: when O(state=stopped)
  type: bool
"""

from ansible_collections.airgap.ecr.plugins.module_utils.layout import LayoutError
from ansible_collections.airgap.ecr.plugins.module_utils.relay_process import DEFAULT_STATE_DIR
from ansible_collections.airgap.ecr.plugins.module_utils.relay_process import RelayError
from ansible_collections.airgap.ecr.plugins.module_utils.relay_process import check_request
from ansible_collections.airgap.ecr.plugins.module_utils.relay_process import start
from ansible_collections.airgap.ecr.plugins.module_utils.relay_process import stop
from ansible_collections.airgap.ecr.plugins.module_utils.target_module import TargetModule
from ansible_collections.airgap.ecr.plugins.module_utils.validation import ValidationError


def main():
    module = TargetModule(
        argument_spec=dict(
            state=dict(type="str", choices=["started", "stopped"], default="started"),
            path=dict(type="path"),
            address=dict(type="str"),
            port=dict(type="int", required=True),
            prefix=dict(type="str", no_log=True),
            tls_cert=dict(type="path"),
            tls_key=dict(type="path", no_log=False),
            idle_timeout=dict(type="int", default=900),
            lifetime=dict(type="int", default=21600),
            state_dir=dict(type="path", default=DEFAULT_STATE_DIR),
            strict_modes=dict(type="bool", default=True),
        ),
        required_if=[("state", "started", ("path", "address", "prefix"))],
        required_together=[("tls_cert", "tls_key")],
        supports_check_mode=False,
    )
    try:
        check_request(module.params)
        result = start(module.params) if module.params["state"] == "started" else stop(module.params)
    except (ValidationError, RelayError, LayoutError) as e:
        module.fail_json(msg=str(e))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
