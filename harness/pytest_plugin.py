"""The chaos-harness pytest plugin: cluster options, fixtures and markers.

End-to-end tests (marked `e2e`, automatically for tests under an `e2e` directory) need the live kind
cluster. Where it cannot be reached they fail when CI=true or --require-cluster is given, and are skipped
with the reason otherwise, so a laptop without docker can still run the unit tests.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.kube import Cluster, allowed_contexts_from_env, connect
from harness.testbed.images import MySQLImages

MARKERS = {
    "e2e": "needs the live kind cluster (auto-applied under tests/e2e)",
    "disruptive": "injects a fault into the cluster (nodes, kubelets, pods)",
    "slow": "takes more than a minute",
    "faithful_only": "only meaningful with the faithful timing profile",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chaos-harness")
    group.addoption("--kubeconfig", default=None, help="kubeconfig of the test cluster (default: .kube/chaos.kubeconfig)")
    group.addoption("--kube-context", default=None, help="kube context to use (default: kind-chaos)")
    group.addoption("--allow-context", action="append", default=[], help="also allow this context (glob); default kind-*")
    group.addoption("--kind-cluster", default="chaos", help="name of the kind cluster (node containers <name>-*)")
    group.addoption("--keep-namespaces", action="store_true", default=False,
                    help="leave each test's namespace behind for debugging")
    group.addoption("--require-cluster", action="store_true", default=False,
                    help="fail, never skip, end-to-end tests when the cluster cannot be reached (implied by CI=true)")


def pytest_configure(config: pytest.Config) -> None:
    for name, doc in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {doc}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "e2e" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.e2e)


def cluster_required(config: pytest.Config) -> bool:
    return bool(config.getoption("--require-cluster")) or os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(config: pytest.Config, message: str) -> None:
    """A missing cluster or engine: a failure in CI (or with --require-cluster), a skip with the reason elsewhere."""
    if cluster_required(config):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def default_kubeconfig(config: pytest.Config) -> Path:
    given = config.getoption("--kubeconfig")
    if given:
        return Path(given)
    return Path(config.rootpath) / ".kube" / "chaos.kubeconfig"


@pytest.fixture(scope="session")
def run_id() -> str:
    """One id per test session: namespaces, reports and journals are named after it."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:4]


@pytest.fixture
def namespace(cluster: Cluster, run_id: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test, derived from the run id; deleted (and waited for) afterwards."""
    from harness.workload.deploy import create_namespace, delete_namespace

    test = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:20].strip("-")
    name = f"chaos-{run_id[-4:]}-{test}-{uuid.uuid4().hex[:4]}"
    create_namespace(cluster, name, {"chaos-harness/run-id": run_id})
    yield name
    if not request.config.getoption("--keep-namespaces"):
        delete_namespace(cluster, name, deadline_seconds=180)


@pytest.fixture(scope="session")
def mysql_images(cluster: Cluster, kind_cluster_name: str) -> MySQLImages:
    """The MySQL workload images (pulled, or built offline), loaded into every node of the kind cluster."""
    from harness.testbed import cluster as testbed, images

    resolved = images.mysql_images()
    testbed.load_images(resolved.mysql, resolved.xtrabackup)
    return resolved


@pytest.fixture(scope="session")
def kind_cluster_name(pytestconfig: pytest.Config) -> str:
    return str(pytestconfig.getoption("--kind-cluster"))


@pytest.fixture(scope="session")
def cluster(pytestconfig: pytest.Config, kind_cluster_name: str) -> Iterator[Cluster]:
    """The live cluster, after the context allowlist check. Fails in CI when unreachable; skips elsewhere."""
    kubeconfig = default_kubeconfig(pytestconfig)
    context = pytestconfig.getoption("--kube-context") or f"kind-{kind_cluster_name}"
    allowed = allowed_contexts_from_env() + tuple(pytestconfig.getoption("--allow-context"))
    try:
        c = connect(kubeconfig, context, allowed)
        c.fingerprint()  # proves the API answers
    except HarnessError as e:
        unavailable(pytestconfig, f"cluster unreachable ({e}); bring it up with 'make cluster'")
    yield c
    c.api.close()
