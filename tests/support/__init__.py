# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the unit, emulator and reliability tests and the benchmarks share (README.md beside this file).

Imported as ``ansible_collections.airgap.ecr.tests.support.<module>`` from the collection copy
under build/ with PYTHONPATH=build, the way the Makefile runs every suite.
"""
