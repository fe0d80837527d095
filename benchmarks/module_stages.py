# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run one kept AnsiballZ module file in this interpreter, timing the stages of its run.

usage: python module_stages.py ANSIBALLZ_FILE OUTPUT_JSON

The module runs as AnsiballZ runs it: its payload zip first on sys.path (so the module,
its module_utils and ansible's are imported from the zip and compiled, as on every real
run) and its arguments handed to AnsibleModule. Written to OUTPUT_JSON, in seconds:

* ``imports``: importing the module file, with everything it imports;
* ``module_init``: creating the AnsibleModule (argument spec, checks);
* ``client``: creating boto3 clients through AnsibleAWSModule.client;
* ``work``: the rest of main() up to exit_json / fail_json: API calls, downloads;
* ``exit``: exit_json / fail_json (the result as JSON on stdout).
"""

import time

STARTED = time.perf_counter()

# pylint: disable=wrong-import-position
import ast  # noqa: E402
import base64  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

WANTED = ("zip_data", "params", "module_fqn", "profile")


def ansiballz_arguments(path):
    """The literal arguments of the ``_ansiballz_main(...)`` call of an AnsiballZ file."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_ansiballz_main":
            return {keyword.arg: ast.literal_eval(keyword.value) for keyword in node.keywords if keyword.arg in WANTED}
    raise SystemExit(f"{path} is not an AnsiballZ module file")


class StageClock:
    """Wraps methods to add up the time spent in them, and notes when the module exits."""

    def __init__(self):
        self.spent = {"module_init": 0.0, "client": 0.0}
        self.depth = {"module_init": 0, "client": 0}
        self.exit_called = None

    def timed(self, function, stage):
        """``function``, adding its time to ``stage`` (only the outermost of nested timed calls counts)."""
        clock = self

        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            clock.depth[stage] += 1
            try:
                return function(*args, **kwargs)
            finally:
                clock.depth[stage] -= 1
                if not clock.depth[stage]:
                    clock.spent[stage] += time.perf_counter() - started

        return wrapper

    def exiting(self, function):
        clock = self

        def wrapper(*args, **kwargs):
            if clock.exit_called is None:
                clock.exit_called = time.perf_counter()
            return function(*args, **kwargs)

        return wrapper


def instrument(clock):
    from ansible.module_utils.basic import AnsibleModule  # pylint: disable=import-outside-toplevel

    AnsibleModule.__init__ = clock.timed(AnsibleModule.__init__, "module_init")
    AnsibleModule.exit_json = clock.exiting(AnsibleModule.exit_json)
    AnsibleModule.fail_json = clock.exiting(AnsibleModule.fail_json)
    try:
        from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # pylint: disable=import-outside-toplevel
    except ImportError:
        return
    AnsibleAWSModule.__init__ = clock.timed(AnsibleAWSModule.__init__, "module_init")
    AnsibleAWSModule.client = clock.timed(AnsibleAWSModule.client, "client")


def run(path, output):
    arguments = ansiballz_arguments(path)
    with tempfile.TemporaryDirectory(prefix="module-stages-") as scratch:
        payload = os.path.join(scratch, "payload.zip")
        with open(payload, "wb") as handle:
            handle.write(base64.b64decode(arguments["zip_data"]))
        sys.path.insert(0, payload)
        prepared = time.perf_counter()

        from ansible.module_utils import basic  # pylint: disable=import-outside-toplevel

        basic._ANSIBLE_ARGS = arguments["params"].encode()  # pylint: disable=protected-access
        basic._ANSIBLE_PROFILE = arguments.get("profile", "legacy")  # pylint: disable=protected-access
        module = importlib.import_module(arguments["module_fqn"])
        imported = time.perf_counter()

        clock = StageClock()
        instrument(clock)
        try:
            module.main()
        except SystemExit:
            pass
        ended = time.perf_counter()

    exit_called = clock.exit_called or ended
    stages = {
        "setup": prepared - STARTED,
        "imports": imported - prepared,
        "module_init": clock.spent["module_init"],
        "client": clock.spent["client"],
        "work": exit_called - imported - clock.spent["module_init"] - clock.spent["client"],
        "exit": ended - exit_called,
    }
    with open(output, "w", encoding="utf-8") as handle:
        json.dump(stages, handle)


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2])
