# chaos-harness: everything a fresh machine needs is set up by these targets.
#   make run    cluster up, the resilience suite S1-S12; report in reports/<run-id>/report.html
#   make test   the test suite (unit tests + end-to-end tests on the live kind cluster, the report in Chromium)
SHELL := /bin/bash
PYTHON_BOOTSTRAP ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PROFILE ?= fast
export PATH := $(CURDIR)/.bin:$(PATH)

.PHONY: all host venv engine kind image cluster cluster-down status test unit e2e run logs clean browser scale

all: test

$(VENV)/.installed: pyproject.toml
	scripts/host-packages.sh venv
	$(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

# Every host package (python3-venv, docker.io, debootstrap; chromium for make test) in one serialized apt step,
# before anything else starts: parallel build stages never call apt. HOST_NEEDS is widened per target below
# (GNU make passes a target's variables on to its prerequisites).
HOST_NEEDS ?= venv build
host:
	scripts/host-packages.sh $(HOST_NEEDS)

engine: host
	scripts/ensure-docker.sh

kind: venv
	$(PY) -m chaos_harness.testbed kind

image: engine venv
	$(PY) -m chaos_harness.testbed image

cluster: engine venv
	$(PY) -m chaos_harness.testbed up --profile $(PROFILE)

cluster-down: venv
	$(PY) -m chaos_harness.testbed down

status: venv
	$(PY) -m chaos_harness.testbed status

unit: venv
	$(PY) -m pytest -m "not e2e" tests

# Headless Chromium (Debian's package) for the test that opens the HTML report in a real browser.
browser: HOST_NEEDS = venv build browser
browser: host

# The whole suite on the live cluster; on failure the cluster's logs go to reports/kind-logs-<time>/.
test: HOST_NEEDS = venv build browser
test: host cluster
	scripts/test.sh

# The resilience suite (scenarios/) on the live cluster: reports/<run-id>/report.html, results.json,
# history.jsonl, junit.xml, and reports/index.html across runs. Exit 1 when a hypothesis failed.
KEEP_RUNS ?= 50
# Every worker, the side lane's two as well (the workload tolerates their taint): seven nodes make two node
# lanes beside the MySQL scenarios (chaos_harness/assemble/scheduler.py).
RUN_NODES ?= !node-role.kubernetes.io/control-plane
# Three node lanes and two scenarios on their own pods beside them: the lanes mostly wait on Kubernetes' clock.
RUN_PARALLEL ?= 5
run: cluster
	$(PY) -m chaos_harness.testbed status
	$(PY) -m chaos_harness run --timing-profile $(PROFILE) --keep-runs $(KEEP_RUNS) --target-nodes '$(RUN_NODES)' \
	  --parallel $(RUN_PARALLEL)

# The harness beside 1,000 simulated nodes and 20,000 simulated pods (kwok, built from the Go module proxy): doctor,
# S8 and S7 before and with them; figures only (benchmarks/scale.py). Not part of make test.
SCALE_NODES ?= 1000
SCALE_PODS ?= 20000
scale: cluster
	$(PY) benchmarks/scale.py --nodes $(SCALE_NODES) --pods $(SCALE_PODS)

logs: venv
	$(PY) -m chaos_harness.testbed logs reports/kind-logs-$$(date -u +%Y%m%dT%H%M%SZ)

clean:
	rm -rf $(VENV) .bin .kube
