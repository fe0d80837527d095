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

.PHONY: help setup system-packages collection demo test units emulator-test sanity integration docs docs-check clean

help:
	@echo "make demo   - start the local ECR emulator, resolve and download the demo image's layers into ./demo-out"
	@echo "make test   - unit, emulator, sanity, integration and docs checks (creates .venv)"
	@echo "make docs   - render the plugin reference into docs/ from the plugins' own documentation"
	@echo "make clean  - remove .venv, build trees and outputs"

$(VENV)/.stamp: tests/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	touch $@

$(AWSCLI_VENV)/.stamp: tests/requirements-awscli.txt
	$(PYTHON) -m venv $(AWSCLI_VENV)
	$(AWSCLI_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r tests/requirements-awscli.txt
	touch $@

setup: $(VENV)/.stamp collection

# Debian packages the checks and the demo use (shellcheck for ansible-test sanity, curl for the emulator's
# tests, skopeo and umoci to read OCI layouts); installed only when missing.
SYSTEM_PACKAGES := shellcheck curl skopeo umoci
system-packages:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do command -v $$p >/dev/null || echo $$p; done); \
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

docs: setup
	tests/utils/docs.sh render

docs-check: setup
	tests/utils/docs.sh check

test: units emulator-test sanity integration docs-check
	@echo "make test: all checks passed"

clean:
	-tests/utils/emulator.sh stop 2>/dev/null
	rm -rf $(VENV) $(AWSCLI_VENV) $(BUILD) .cache demo-out tests/output $(EMULATOR_DIR)
