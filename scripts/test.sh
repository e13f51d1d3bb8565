#!/usr/bin/env bash
# make test: the full pytest suite against the live cluster. When it fails, `kind export logs` goes under
# reports/ so the failure can be read afterwards.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p reports
# Three lanes at once (tests/conftest.py): the MySQL tests on the untainted workers, the node-fault tests with
# light workloads on two pairs of side workers; each lane one test at a time, unit tests wherever a worker is
# free. TEST_LANES=0 runs everything in this one process, one test at a time.
.venv/bin/python -m pytest -n "${TEST_LANES:-3}" --chaos-require-cluster --junitxml=reports/junit.xml \
  --html=reports/pytest-report.html --self-contained-html "$@" tests
status=$?
if [ "$status" -ne 0 ]; then
  dir="reports/kind-logs-$(date -u +%Y%m%dT%H%M%SZ)"
  echo "tests failed (exit $status); exporting cluster logs to $dir"
  .venv/bin/python -m chaos_harness.testbed logs "$dir" || echo "could not export cluster logs"
fi
exit "$status"
