# chaos-harness: everything a fresh machine needs is set up by these targets.
#   make run    cluster up, the resilience suite (results and histories in reports/<run-id>/; HTML: issue 6)
#   make test   the test suite (unit tests + end-to-end tests on the live kind cluster)
SHELL := /bin/bash
PYTHON_BOOTSTRAP ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PROFILE ?= fast
export PATH := $(CURDIR)/.bin:$(PATH)

.PHONY: all venv engine kind image cluster cluster-down status test unit e2e run logs clean

all: test

$(VENV)/.installed: pyproject.toml
	$(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

engine:
	scripts/ensure-docker.sh

kind: venv
	$(PY) -m harness.testbed kind

image: engine venv
	$(PY) -m harness.testbed image

cluster: engine venv
	$(PY) -m harness.testbed up --profile $(PROFILE)

cluster-down: venv
	$(PY) -m harness.testbed down

status: venv
	$(PY) -m harness.testbed status

unit: venv
	$(PY) -m pytest -m "not e2e" tests

# The whole suite on the live cluster; on failure the cluster's logs go to reports/kind-logs-<time>/.
test: cluster
	scripts/test.sh

# The resilience suite (scenarios/) on the live cluster: results.json and histories in reports/<run-id>/.
run: cluster
	$(PY) -m harness.testbed status
	$(PY) -m harness.cli run

logs: venv
	$(PY) -m harness.testbed logs reports/kind-logs-$$(date -u +%Y%m%dT%H%M%SZ)

clean:
	rm -rf $(VENV) .bin .kube
