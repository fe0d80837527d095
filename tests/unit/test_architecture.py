# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/architecture.md matches the code; target-side code imports nothing but the standard library and
ansible.module_utils; plugins keep their functions and files short."""

import ast
import os
import re
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODULE_UTILS = os.path.join(ROOT, "plugins", "module_utils")
LOCAL = "ansible_collections.airgap.ecr.plugins.module_utils."
SIDES = {"controller", "target", "both"}
MAX_FUNCTION_LINES = 50
MAX_FILE_LINES = 400


def declared_sides():
    """``{file name: side}`` from the module_utils table of docs/architecture.md."""
    with open(os.path.join(ROOT, "docs", "architecture.md"), encoding="utf-8") as handle:
        rows = re.findall(r"^\| `([a-z_]+\.py)` \| .+ \| ([a-z]+) \|$", handle.read(), re.MULTILINE)
    return dict(rows)


def imports_of(path):
    """``(local module_utils names, other top-level module names)`` that a file imports."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    names = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == LOCAL[:-1]:  # from <module_utils> import layout_fs
            names += [LOCAL + alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    local = {name[len(LOCAL) :].split(".")[0] + ".py" for name in names if name.startswith(LOCAL)}
    other = {name for name in names if not name.startswith(LOCAL)}
    return local, other


def closure(paths):
    """Every module_utils file that the given files import, directly or not."""
    found, pending = set(), list(paths)
    while pending:
        local = imports_of(pending.pop())[0]
        for name in local - found:
            found.add(name)
            pending.append(os.path.join(MODULE_UTILS, name))
    return found


def plugin_files(kind):
    directory = os.path.join(ROOT, "plugins", kind)
    return [os.path.join(directory, name) for name in sorted(os.listdir(directory)) if name.endswith(".py")]


def is_controller_plugin(path):
    local, other = imports_of(path)
    return "modules.py" in local or any(name.startswith("ansible_collections.amazon.aws") for name in other)


def test_every_module_utils_file_is_in_the_table_with_a_side():
    sides = declared_sides()
    files = {name for name in os.listdir(MODULE_UTILS) if name.endswith(".py") and name != "__init__.py"}
    assert set(sides) == files, "docs/architecture.md's table and plugins/module_utils/ differ"
    assert set(sides.values()) <= SIDES


def test_the_declared_side_is_where_the_plugins_run_it():
    sides = declared_sides()
    modules = plugin_files("modules")
    target = [path for path in modules if not is_controller_plugin(path)]
    controller = [path for path in modules + plugin_files("lookup") if is_controller_plugin(path)]
    assert target and controller
    wrong = sorted(name for name in closure(target) if sides.get(name) not in ("target", "both"))
    assert wrong == [], f"target modules use these, which the table does not put on the target side: {wrong}"
    wrong = sorted(name for name in closure(controller) if sides.get(name) not in ("controller", "both"))
    assert wrong == [], f"controller plugins use these, which the table does not put on the controller side: {wrong}"


@pytest.mark.parametrize("name", sorted(n for n, side in declared_sides().items() if side in ("target", "both")))
def test_target_side_imports_only_the_standard_library_and_ansible_module_utils(name):
    sides = declared_sides()
    local, other = imports_of(os.path.join(MODULE_UTILS, name))
    foreign = sorted(
        m for m in other if m.split(".")[0] not in sys.stdlib_module_names and not m.startswith("ansible.module_utils.")
    )
    assert foreign == [], f"{name} runs on target hosts and imports {foreign}"
    controller_only = sorted(m for m in local if sides.get(m) == "controller")
    assert controller_only == [], f"{name} runs on target hosts and imports controller code {controller_only}"


def test_plugins_keep_functions_and_files_short():
    long = []
    for kind in ("modules", "module_utils", "lookup", "doc_fragments"):
        for path in plugin_files(kind):
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
            where = os.path.relpath(path, ROOT)
            if text.count("\n") > MAX_FILE_LINES:
                long.append(f"{where}: {text.count(chr(10))} lines")
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    length = node.end_lineno - node.lineno + 1
                    if length > MAX_FUNCTION_LINES:
                        long.append(f"{where}:{node.lineno} {node.name}() has {length} lines")
    assert long == []
