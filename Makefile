# mailstack: `make lab` and `make test`, and the helpers they call.
# The first call of any target creates .venv and installs the project into it (pinned by
# constraints.txt); later calls reuse it until pyproject.toml or constraints.txt change.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.mailstack-installed
REPORTS := .cache/reports
export PATH := $(CURDIR)/$(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible/ansible.cfg
# Keep tools' caches inside the project, not in the home directory.
export ANSIBLE_HOME := $(CURDIR)/.cache/ansible
export MYPY_CACHE_DIR := $(CURDIR)/.cache/mypy
export RUFF_CACHE_DIR := $(CURDIR)/.cache/ruff
# Ansible runs with its own strategy (linear) unless told otherwise; the lab and the Molecule
# scenarios opt in to Mitogen's (ansible/strategy_plugins/mitogen_linear.py), which is faster
# on containers. ANSIBLE_STRATEGY=linear make lab runs them with Ansible's own. The Molecule
# scenario `common` pins linear whatever this says, so Ansible's own path is always tested.
LAB_STRATEGY_TARGETS := lab lab-check lab-down molecule
$(LAB_STRATEGY_TARGETS): export ANSIBLE_STRATEGY ?= mitogen_linear

.PHONY: help venv lab lab-check lab-down test test-fast lint unit molecule platform bench lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# Python >= 3.11 with venv; on Debian, python3-venv is installed when missing and we are root.
define make_venv
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  || { echo "mailstack needs Python 3.11 or newer: $(PYTHON) is older (set PYTHON=...)" >&2; exit 1; }
	$(PYTHON) -c 'import ensurepip' 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; \
	  else echo "$(PYTHON) cannot create a venv: install python3-venv (as root: apt-get install python3-venv)" >&2; exit 1; fi; }
	[ -x $(1)/bin/pip ] || $(PYTHON) -m venv $(1)
	$(1)/bin/pip install -q --disable-pip-version-check $(2) -e '.[dev]' \
	  2> >(grep -v "^WARNING: Location 'file:" >&2)
endef

$(STAMP): pyproject.toml constraints.txt
	@echo "venv: installing mailstack and its tools into $(VENV) (pinned by constraints.txt)"
	@$(call make_venv,$(VENV),-c constraints.txt)
	@touch $@

venv: $(STAMP) ## create .venv and install the project and its tools into it

lab: $(STAMP) ## start the whole lab and check it end to end (about 10 minutes)
	@bash molecule/lab/run.sh

lab-check: $(STAMP) ## mailstack check of the lab's two domains (the lab must be running)
	bash molecule/lab/audit.sh example.test
	bash molecule/lab/audit.sh peer.test

lab-down: $(STAMP) ## remove the lab's containers
	ansible-playbook -i inventories/lab ansible/lab/lab-down.yml

test-fast: lint unit ## lint and unit tests (under 2 minutes)

test: test-fast molecule ## everything CI runs: lint, unit tests, every Molecule scenario

lint: $(STAMP) ## ruff, mypy, yamllint, ansible-lint (profile production)
	ruff check .
	ruff format --check .
	mypy
	yamllint --strict .
	ansible-lint --profile production

unit: $(STAMP) ## pytest; no test collected is a failure
	@bash tests/setup-browser.sh
	@bash tests/setup-nss.sh
	@mkdir -p $(REPORTS)
	pytest --junitxml=$(REPORTS)/pytest.xml

platform: ## podman, runc, debootstrap and the base image (root on Debian 12 on first run)
	@bash molecule/platform/setup.sh

molecule: $(STAMP) platform ## every Molecule scenario: converge, idempotence, verify
	@bash molecule/platform/run-scenarios.sh

# BENCH=dns (or cli, accounts, boot, reports, smime, lab, audit, mail, lists; several: BENCH="dns lab") runs
# only those parts.
bench: $(STAMP) platform ## benchmarks that print figures and ratios to their targets
	python -m tests.bench.run $(BENCH)

lock: ## re-resolve the pinned versions in constraints.txt from a fresh environment
	@rm -rf .cache/lock-venv
	@$(call make_venv,.cache/lock-venv,)
	@.cache/lock-venv/bin/pip freeze --exclude-editable | grep -v '^mailstack' | LC_ALL=C sort -f > constraints.txt
	@rm -rf .cache/lock-venv
	@echo "constraints.txt updated: review the diff and commit it"

clean: ## remove .venv and caches (the base image stays)
	rm -rf $(VENV) .cache .pytest_cache .hypothesis
