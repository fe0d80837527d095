# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The real ``ansible-playbook`` on an inventory of local hosts, and what the tests read from its output."""

import json
import os
import subprocess
import sys


class Playbook:
    """Runs a playbook (written as JSON) on an inventory of local hosts with the real ``ansible-playbook``."""

    def __init__(self, directory, hosts):
        self.directory = str(directory)
        os.makedirs(self.directory, exist_ok=True)
        local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
        inventory = {"fleet": {"hosts": hosts, "vars": local}}
        self.inventory = self._write("inventory.yml", json.dumps(inventory, indent=1))  # YAML: JSON is YAML
        collections = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", ".."))
        self.env = dict(
            os.environ,
            ANSIBLE_COLLECTIONS_PATH=collections,
            ANSIBLE_HOME=os.path.join(self.directory, "home"),
            ANSIBLE_LOCAL_TEMP=os.path.join(self.directory, "tmp"),
            ANSIBLE_NOCOLOR="1",
            PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
        )

    def _write(self, name, text):
        path = os.path.join(self.directory, name)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        return path

    def run(self, plays, *args, env=None):
        """``(rc, output)`` of one run, in ``env`` (default this one's); fails the test after 15 minutes."""
        playbook = self._write("playbook.yml", json.dumps(plays, indent=1))
        done = subprocess.run(
            [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", self.inventory, playbook, *args],
            capture_output=True,
            text=True,
            check=False,
            env=self.env if env is None else env,
            cwd=self.directory,
            timeout=900,
        )
        return done.returncode, done.stdout + done.stderr


def delivery(output):
    """``{host: [image_fetch_delivery of each play]}`` from the debug tasks' output (ansible's default callback)."""
    found, lines = {}, output.splitlines()
    for position, line in enumerate(lines):
        following = lines[position + 1] if position + 1 < len(lines) else ""
        if line.startswith("ok: [") and line.rstrip().endswith("=> {") and '"image_fetch_delivery"' in following:
            host = line[len("ok: [") : line.index("]")]
            end = lines.index("}", position)
            shown = json.loads("{" + "\n".join(lines[position + 1 : end]) + "}")["image_fetch_delivery"]
            found.setdefault(host, []).append(
                {key: int(value) if str(value).isdigit() else value for key, value in shown.items()}
            )
    return found


def recap(output):
    """``{host: {"ok": n, "changed": n, "failed": n, ...}}`` from the PLAY RECAP."""
    found = {}
    for line in output.split("PLAY RECAP", 1)[1].splitlines()[1:]:
        if ":" in line and "=" in line:
            host, counts = line.split(":", 1)
            found[host.strip()] = {key: int(value) for key, value in (p.split("=") for p in counts.split())}
    return found
