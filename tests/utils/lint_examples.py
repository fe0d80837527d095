# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run ansible-lint on the EXAMPLES block of every plugin of the collection.

Each block is read with ``ast`` (the plugin is not imported) and written out, text unchanged,
into a temporary directory: a run of tasks as a tasks file that a ``hosts: localhost`` play
imports, a run of plays as a playbook of its own. ansible-lint then checks those files with the
collection's .ansible-lint, and every finding is printed against the plugin's file and line:

    plugins/modules/blob_fetch.py:179: name[missing]: All tasks should be named. [airgap.ecr.blob_fetch module]

Run from the collection root (the copy under build/ in ``make lint``), with ansible-lint on
PATH and ANSIBLE_COLLECTIONS_PATH naming a tree that holds this collection and amazon.aws.
Exits 1 when ansible-lint finds anything it counts as a failure or a module or lookup has no
EXAMPLES, 2 when ansible-lint cannot run.
"""

import argparse
import ast
import dataclasses
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

import yaml

# Plugin types whose documentation, EXAMPLES included, lives in the plugin's own .py file.
DOCUMENTED_TYPES = ("modules", "lookup", "inventory", "callback", "connection", "become", "cache", "vars")
# Types that must have an EXAMPLES block (ansible-test sanity requires one for modules too).
EXAMPLES_REQUIRED = ("modules", "lookup")
PLAY_KEYS = ("hosts", "import_playbook", "ansible.builtin.import_playbook")


@dataclasses.dataclass
class Block:
    """One plugin's EXAMPLES: its text and the line of the plugin file its first line is on."""

    path: str
    plugin_type: str
    name: str
    text: str
    first_line: int
    exact: bool = True  # False: the text's lines are not the source's, findings go to first_line

    @property
    def label(self):
        kind = "module" if self.plugin_type == "modules" else self.plugin_type
        return f"{self.name} {kind}"


def read_examples(path):
    """Return (text, its first line in the plugin file, whether its lines are the file's), or Nones."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), filename=path)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "EXAMPLES" for t in node.targets):
            if not (isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
                raise ValueError(f"{path}: EXAMPLES is not a plain string")
            text = node.value.value
            # The string's first line is on the line of its opening quotes. A block whose escapes
            # make its line count differ from the source's is mapped to its first line only.
            exact = text.count("\n") == node.value.end_lineno - node.value.lineno
            if not exact:
                print(f"{path}: EXAMPLES has escaped newlines: findings are shown at its first line", file=sys.stderr)
            return text, node.value.lineno, exact
    return None, None, None


def find_blocks(root, collection):
    blocks, errors = [], []
    for plugin_type in DOCUMENTED_TYPES:
        for path in sorted(glob.glob(os.path.join(root, "plugins", plugin_type, "*.py"))):
            name = os.path.splitext(os.path.basename(path))[0]
            if name == "__init__":
                continue
            relative = os.path.relpath(path, root)
            try:
                text, first_line, exact = read_examples(path)
            except ValueError as error:
                errors.append(str(error))
                continue
            if text is None or not text.strip():
                if plugin_type in EXAMPLES_REQUIRED:
                    errors.append(f"{relative}: no EXAMPLES block")
                continue
            blocks.append(Block(relative, plugin_type, f"{collection}.{name}", text, first_line, exact))
    return blocks, errors


def split_block(block):
    """Split an EXAMPLES block into runs of plays and runs of tasks.

    Returns [(kind, first, last)] with kind "plays" or "tasks" and first..last the (0-based,
    inclusive) lines of the block's text that the run takes, comments before an item included.
    """
    lines = block.text.split("\n")
    document = yaml.compose(block.text)
    if document is None:
        return []
    if not isinstance(document, yaml.SequenceNode):
        raise ValueError(f"{block.path}: EXAMPLES is not a YAML list of tasks or plays")
    items = []
    for node in document.value:
        keys = [key.value for key, dummy in node.value] if isinstance(node, yaml.MappingNode) else []
        kind = "plays" if any(k in PLAY_KEYS for k in keys) else "tasks"
        start = node.start_mark.line
        # Comments (and blank lines) at column 0 just above an item belong to it.
        previous_end = items[-1][1] if items else 0
        while start - 1 >= previous_end and (not lines[start - 1].strip() or lines[start - 1].startswith("#")):
            start -= 1
        items.append((kind, start))
    runs = []
    for index, (kind, start) in enumerate(items):
        end = items[index + 1][1] - 1 if index + 1 < len(items) else len(lines) - 1
        if runs and runs[-1][0] == kind:
            runs[-1][2] = end
        else:
            runs.append([kind, start, end])
    if runs:
        runs[0][1] = 0
    trimmed = []
    for kind, first, last in runs:
        while first <= last and not lines[first].strip():
            first += 1
        while last >= first and not lines[last].strip():
            last -= 1
        if first <= last:
            trimmed.append((kind, first, last))
    return trimmed


def write_block(block, workdir, line_map):
    """Write the block's files under workdir; record generated file -> plugin line for each line."""
    lines = block.text.split("\n")
    stem = "{}-{}".format(block.plugin_type, block.name.rsplit(".", 1)[1])
    wrapper = ["---"]
    written = []
    for number, (kind, first, last) in enumerate(split_block(block), start=1):
        if kind == "plays":
            relative = os.path.join("playbooks", f"{stem}-{number}.yml")
            wrapper += [
                f"- name: EXAMPLES of {block.label}, plays {number}",
                f"  ansible.builtin.import_playbook: {os.path.basename(relative)}",
            ]
        else:
            relative = os.path.join("tasks", f"{stem}-{number}.yml")
            wrapper += [
                f"- name: EXAMPLES of {block.label}, tasks {number}",
                "  hosts: localhost",
                "  gather_facts: false",
                "  tasks:",
                "    - name: Tasks of the EXAMPLES",
                f"      ansible.builtin.import_tasks: ../{relative}",
            ]
        # "---" first, then the block's lines as they are.
        write(workdir, relative, ["---"] + lines[first : last + 1])
        plugin_lines = [block.first_line + first] + [block.first_line + n for n in range(first, last + 1)]
        if not block.exact:
            plugin_lines = [block.first_line] * len(plugin_lines)
        line_map[relative] = (block, plugin_lines)
        written.append(relative)
    relative = os.path.join("playbooks", f"{stem}.yml")
    write(workdir, relative, wrapper)
    line_map[relative] = (block, [block.first_line] * len(wrapper))
    return [relative] + written


def write(workdir, relative, lines):
    path = os.path.join(workdir, relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def run_ansible_lint(ansible_lint, config, workdir, files):
    command = [
        ansible_lint,
        "--offline",
        "--nocolor",
        "--config-file",
        config,
        "--project-dir",
        workdir,
        "--format",
        "codeclimate",
    ]
    result = subprocess.run(command + files, cwd=workdir, capture_output=True, text=True, check=False)
    try:
        findings = json.loads(result.stdout or "[]")
    except ValueError:
        findings = None
    return result, findings


def report(finding, workdir, line_map):
    location = finding.get("location", {})
    path = location.get("path", "")
    if os.path.isabs(path):
        path = os.path.relpath(path, workdir)
    line = location.get("lines", {}).get("begin") or location.get("positions", {}).get("begin", {}).get("line") or 1
    rule = finding.get("check_name", "?")
    message = finding.get("description", "").strip().replace("\n", " ")
    # ansible-lint's codeclimate output says "minor" for a warning, "major" for a failure.
    level = " (warning)" if finding.get("severity") == "minor" else ""
    if path in line_map:
        block, plugin_lines = line_map[path]
        plugin_line = plugin_lines[min(max(line, 1), len(plugin_lines)) - 1]
        return f"{block.path}:{plugin_line}: {rule}: {message} [{block.label}]{level}"
    return f"{path}:{line}: {rule}: {message} [generated file]{level}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--root", default=".", help="the collection root (default: the current directory)")
    parser.add_argument("--config", help="ansible-lint configuration (default: ROOT/.ansible-lint)")
    parser.add_argument("--ansible-lint", default="ansible-lint", dest="ansible_lint", help="the ansible-lint to run")
    parser.add_argument("--keep", action="store_true", help="keep the generated files and print where they are")
    args = parser.parse_args()
    root = os.path.abspath(args.root)
    config = os.path.abspath(args.config or os.path.join(root, ".ansible-lint"))
    with open(os.path.join(root, "galaxy.yml"), encoding="utf-8") as handle:
        galaxy = yaml.safe_load(handle)
    collection = "{}.{}".format(galaxy["namespace"], galaxy["name"])

    blocks, errors = find_blocks(root, collection)
    workdir = tempfile.mkdtemp(prefix="lint-examples-")
    try:
        line_map, files = {}, []
        for block in blocks:
            try:
                files += write_block(block, workdir, line_map)
            except yaml.YAMLError as error:
                mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
                line = block.first_line + mark.line if mark and block.exact else block.first_line
                problem = getattr(error, "problem", None) or str(error).split("\n", 1)[0]
                errors.append(f"{block.path}:{line}: EXAMPLES is not valid YAML: {problem} [{block.label}]")
            except ValueError as error:
                errors.append(str(error))
        for error in errors:
            print(error)
        if not files:
            print("no EXAMPLES to lint")
            return 1 if errors else 0
        result, findings = run_ansible_lint(args.ansible_lint, config, workdir, files)
        if findings is None or result.returncode not in (0, 2):
            sys.stderr.write(result.stdout + result.stderr)
            print(f"ansible-lint did not run on the EXAMPLES (exit code {result.returncode})", file=sys.stderr)
            return 2
        seen = set()
        for finding in findings:
            line = report(finding, workdir, line_map)
            if line not in seen:
                seen.add(line)
                print(line)
        summary = [s for s in result.stderr.splitlines() if s.startswith(("Passed:", "Failed:"))]
        labels = ", ".join(b.label for b in blocks)
        print(
            f"EXAMPLES of {len(blocks)} plugins ({labels}): "
            f"{summary[-1] if summary else 'no summary from ansible-lint'}"
        )
        if errors:
            print(f"{len(errors)} EXAMPLES block(s) missing or unreadable")
        return 1 if result.returncode != 0 or errors else 0
    finally:
        if args.keep:
            print(f"generated files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
