# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module's ``main()`` through its real entry point, in this process."""

import contextlib
import io
import json

from ansible.module_utils.testing import patch_module_args


class ModuleDidNotExit(AssertionError):
    """A module's main() returned instead of calling exit_json or fail_json."""


def run_module_text(main, check_mode=False, **args):
    """``(failed, result, output)`` of ``main()`` run with ``args`` as its module arguments.

    ``output`` is what the module printed (its JSON result). A traceback fails the test; a main()
    that returns without exit_json or fail_json raises ModuleDidNotExit.
    """
    output = io.StringIO()
    code = None
    with patch_module_args(dict(args, _ansible_check_mode=check_mode)), contextlib.redirect_stdout(output):
        try:
            main()
        except SystemExit as exit_info:
            code = exit_info.code
    if code is None:
        raise ModuleDidNotExit(output.getvalue())
    text = output.getvalue()
    return code != 0, json.loads(text), text


def run_module(main, check_mode=False, **args):
    """``(failed, result)`` of ``main()`` run with ``args`` as its module arguments (see run_module_text)."""
    failed, result, _text = run_module_text(main, check_mode, **args)
    return failed, result
