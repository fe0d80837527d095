# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Callback plugin of the benchmarks: the wall time of every task, as JSON lines.

Enabled by benchmarks/bench.py with ``ANSIBLE_CALLBACK_PLUGINS`` and ``ANSIBLE_CALLBACKS_ENABLED``;
it appends ``{"task", "action", "seconds"}`` for each task to the file named by ``AIRGAP_BENCH_TIMINGS``.
A task lasts from its start until the start of the next task (or the end of the play), as
``profile_tasks`` counts it, so that a loop is measured as a whole. At the end of the play it also
appends ``{"download_seconds"}``: the longest ``download.seconds`` that the image_fetch role registered
on any host (``image_fetch_layout``), the download module's work, when the role ran.
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: bench_timer
type: aggregate
short_description: Write the wall time of every task to a file, for the airgap.ecr benchmarks
description:
  - Appends one JSON line C({"task", "action", "seconds"}) for each task to the file named by the environment variable
    C(AIRGAP_BENCH_TIMINGS).
requirements:
  - enabled with C(ANSIBLE_CALLBACKS_ENABLED=bench_timer)
"""


class CallbackModule(CallbackBase):
    """Times each task from its start to the start of the next one."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._current = None
        self._path = os.environ.get("AIRGAP_BENCH_TIMINGS")
        self._variables = None

    def _finish(self):
        if self._current is None or not self._path:
            return
        name, action, started = self._current
        self._current = None
        with open(self._path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"task": name, "action": action, "seconds": time.perf_counter() - started}) + "\n")

    def _start(self, task):
        self._finish()
        self._current = (task.get_name(), task.action, time.perf_counter())

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._start(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._start(task)

    def v2_playbook_on_play_start(self, play):
        self._variables = play.get_variable_manager()

    def _download_seconds(self):
        """The longest download.seconds the role registered (registered results are kept whole, no_log or not)."""
        # Registered variables live in the variable manager's non-persistent facts; a benchmark may look.
        facts = getattr(self._variables, "_nonpersistent_fact_cache", None) or {}
        seconds = [
            host_facts["image_fetch_layout"].get("download", {}).get("seconds")
            for host_facts in facts.values()
            if isinstance(host_facts.get("image_fetch_layout"), dict)
        ]
        seconds = [value for value in seconds if isinstance(value, (int, float))]
        return max(seconds) if seconds else None

    def v2_playbook_on_stats(self, stats):
        self._finish()
        seconds = self._download_seconds()
        if seconds is not None and self._path:
            with open(self._path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"download_seconds": seconds}) + "\n")
