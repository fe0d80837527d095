# The developer's whole interface: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
AWSCLI_VENV := .venv-awscli
BUILD ?= build
COLLECTIONS := $(CURDIR)/$(BUILD)/ansible_collections
COLL := $(COLLECTIONS)/airgap/ecr
EMULATOR_DIR := tests/emulator/state
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/$(BUILD)
export AIRGAP_BUILD := $(CURDIR)/$(BUILD)
export ANSIBLE_FORCE_COLOR ?= 0
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help setup system-packages collection demo test lint units emulator-test sanity integration docs docs-check clean bench
.PHONY: reliability stress artifact ee-check runtimes

help:
	@echo "make demo        - start the local ECR emulator and fetch its demo image into ./demo-out (OCI layout, archive, blobs),"
	@echo "                   then (as root) load an image into a containerd of its own and list it with ctr"
	@echo "make test        - lint, units, emulator, sanity, integration, docs-check, molecule, reliability, runtimes,"
	@echo "                   artifact and ee-check (creates .venv)"
	@echo "make lint        - ruff (lint + format check) on the Python code; ansible-lint, production profile, offline: role,"
	@echo "                   playbooks, molecule, integration targets, every EXAMPLES"
	@echo "make runtimes    - load images into real containerd, podman and Docker, push to real registries (as root)"
	@echo "make bench       - benchmarks against the emulator, table in docs/performance.md (not part of make test)"
	@echo "make stress      - the reliability suites scaled up, with figures (docs/reliability.md)"
	@echo "make artifact    - build the collection tarball, check what it holds, install it offline and run the demo and an integration target from it"
	@echo "make ee-check    - ansible-builder create with the collection: its Python and system requirements reach the execution environment"
	@echo "make docs        - render docs/reference/ from the plugins' own documentation and build the HTML site"
	@echo "                   into $(BUILD)/docs/html: warnings are errors, every internal link must resolve (docs/README.md)"
	@echo "make clean       - remove the virtual environments, build trees and outputs"
	@echo "BUILD=build-x    - use another build tree (default build/), so that runs do not share one"

$(VENV)/.stamp: tests/requirements.txt tests/requirements-docs.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	touch $@

$(AWSCLI_VENV)/.stamp: tests/requirements-awscli.txt
	$(PYTHON) -m venv $(AWSCLI_VENV)
	$(AWSCLI_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r tests/requirements-awscli.txt
	touch $@

setup: $(VENV)/.stamp collection

# Debian packages the checks and the demo use (shellcheck for ansible-test sanity, curl for the emulator's
# tests, skopeo and umoci to read OCI layouts; the runtimes and the registry make runtimes starts, and
# htpasswd for its basic-auth registry); installed only when missing. PACKAGE:COMMAND when the names differ.
SYSTEM_PACKAGES := shellcheck curl skopeo umoci
SYSTEM_PACKAGES += containerd:ctr docker.io:dockerd podman docker-registry apache2-utils:htpasswd
system-packages:
	@missing=$$(for e in $(SYSTEM_PACKAGES); do command -v $${e#*:} >/dev/null || echo $${e%%:*}; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing $$missing from Debian"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# amazon.aws (from the ansible wheel on PyPI) and a copy of this collection, side by side.
collection: $(VENV)/.stamp
	$(PY) tests/utils/amazon_aws.py --cache .cache --dest $(COLLECTIONS)
	tests/utils/collection_tree.sh $(BUILD)

demo: setup system-packages
	tests/utils/demo.sh

units: setup
	cd $(COLL) && PYTHONPATH=$(CURDIR)/$(BUILD) $(CURDIR)/$(PY) -m pytest -q -p no:cacheprovider tests/unit

emulator-test: setup system-packages $(AWSCLI_VENV)/.stamp
	cd $(COLL) && PYTHONPATH=$(CURDIR)/$(BUILD) AIRGAP_AWS_CLI=$(CURDIR)/$(AWSCLI_VENV)/bin/aws $(CURDIR)/$(PY) -m pytest -q -p no:cacheprovider tests/emulator

sanity: setup system-packages
	tests/utils/install_get_pip_offline.sh $(PY)
	cd $(COLL) && ansible-test sanity --venv --python 3.11 --color no

integration: setup system-packages
	tests/utils/integration.sh

# ruff (ruff.toml: lint, then format --check) on this checkout's Python code; ansible-lint
# (.ansible-lint: production profile, offline, nothing from Galaxy) on the collection copy, then
# on every plugin's EXAMPLES written out as playbooks (tests/utils/lint_examples.py).
lint: setup
	tests/utils/lint.sh

# docs/reference/ (committed, read in the repository) and the HTML site in $(BUILD)/docs/html; docs-check,
# in make test, fails when docs/reference/ is stale, on any Sphinx warning and on any broken internal link.
docs: setup
	tests/utils/docs.sh render
	tests/utils/docs.sh site

docs-check: setup
	tests/utils/docs.sh check
	tests/utils/docs.sh site

# The image_fetch role's molecule scenario (extensions/molecule/default), run from the collection
# copy against the local ECR emulator: delegated driver on this machine, nothing from Galaxy.
# Molecule has a venv of its own (tests/requirements-molecule.txt, same ansible-core and boto3
# as .venv); the emulator runs with .venv's Python (moto). Molecule's working files go to
# $(BUILD)/molecule, so build trees do not share them.
MOLECULE_VENV := .venv-molecule
.PHONY: molecule
$(MOLECULE_VENV)/.stamp: tests/requirements-molecule.txt
	$(PYTHON) -m venv $(MOLECULE_VENV)
	$(MOLECULE_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r tests/requirements-molecule.txt
	touch $@

molecule: setup system-packages $(MOLECULE_VENV)/.stamp
	cd $(COLL) && PATH=$(CURDIR)/$(MOLECULE_VENV)/bin:$$PATH \
	  MOLECULE_EPHEMERAL_DIRECTORY=$(CURDIR)/$(BUILD)/molecule \
	  AIRGAP_EMULATOR_PYTHON=$(CURDIR)/$(PY) \
	  molecule test --scenario-name default

# Not part of `make test`: prints a table of medians and ratios (docs/performance.md) and fails only
# when a target is missed. BENCH_QUICK=1 runs fewer repetitions, BENCH_LATENCY_MS changes the latency.
bench: setup system-packages $(AWSCLI_VENV)/.stamp
	PYTHONPATH=$(CURDIR)/$(BUILD) AIRGAP_AWS_CLI=$(CURDIR)/$(AWSCLI_VENV)/bin/aws $(PY) benchmarks/bench.py

# Faults, bad input, credentials, integrity, URL expiry, check mode and interrupted runs, against the
# emulator (tests/reliability/, docs/reliability.md). `make stress` runs the same suites scaled up
# (STRESS=1) and prints the figures, also written to $(BUILD)/reliability-figures.json.
reliability: setup system-packages
	cd $(COLL) && PYTHONPATH=$(CURDIR)/$(BUILD) $(CURDIR)/$(PY) -m pytest -q -p no:cacheprovider -n 2 --dist loadfile tests/reliability

stress: setup system-packages
	cd $(COLL) && STRESS=1 RELIABILITY_FIGURES=$(CURDIR)/$(BUILD)/reliability-figures.json PYTHONPATH=$(CURDIR)/$(BUILD) \
	  $(CURDIR)/$(PY) -m pytest -q -p no:cacheprovider -n 2 --dist loadfile --durations=0 tests/reliability

# The collection as users get it: the tarball, installed offline next to amazon.aws, runs the demo
# and an integration target (tests/utils/artifact.sh); and as part of an execution environment
# (tests/utils/ee_check.sh: ansible-builder create, no image built or pulled).
artifact: setup system-packages
	tests/utils/artifact.sh

ee-check: setup
	tests/utils/ee_check.sh

# The runtime loaders and the registry client (tests/runtimes/) against real containerd, dockerd, podman and
# distribution registries (plain http, basic auth over TLS, token auth), started as root in a temporary directory.
runtimes: setup system-packages
	cd $(COLL) && PYTHONPATH=$(CURDIR)/$(BUILD) $(CURDIR)/$(PY) -m pytest -q -p no:cacheprovider tests/runtimes

test: lint units emulator-test sanity integration docs-check molecule reliability runtimes artifact ee-check
	@echo "make test: all checks passed"

clean:
	-tests/utils/emulator.sh stop 2>/dev/null
	rm -rf $(VENV) .venv-* $(BUILD) build-* .cache demo-out tests/output $(EMULATOR_DIR)
