"""The pytest plugin loads beside pytest-kind and kubetest, and leaves other projects' tests alone: no option
clash, no marker applied, no autouse fixture; a user's test uses its fixtures."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

# kubetest 0.9.5 (its latest) cannot be imported with the kubernetes client this project needs (>= 31: it
# references client.RbacAuthorizationV1alpha1Api, removed upstream), so its exact option set stands in for it.
KUBETEST_OPTIONS = '''
def pytest_addoption(parser):
    group = parser.getgroup("kubetest")
    for name in ("--kube-config", "--kube-context", "--kube-error-log-lines", "--kube-log-level"):
        group.addoption(name, default=None)
    for name in ("--in-cluster", "--kube-disable", "--suppress-insecure-request"):
        group.addoption(name, action="store_true", default=False)
'''

USER_TESTS = '''
import pytest

def test_plain(request):
    assert not list(request.node.iter_markers()), "the plugin marked a test of another project"
    assert "_faithful_only" not in request.fixturenames

def test_uses_our_fixture(cluster):
    pass
'''


def test_loads_beside_pytest_kind_and_kubetest(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pytest_kind", reason="pytest-kind is a dev dependency (pip install -e '.[dev]')")
    monkeypatch.delenv("CI", raising=False)
    pytester.makepyfile(kubetest_stand_in=KUBETEST_OPTIONS)
    pytester.mkdir("e2e")
    (pytester.path / "e2e" / "test_user.py").write_text(USER_TESTS)
    pytester.syspathinsert()
    help_text = pytester.runpytest_inprocess("-p", "kubetest_stand_in", "--help").stdout.str()
    for option in ("--keep-cluster", "--cluster-name", "--kube-config", "--kube-context", "--chaos-kube-context",
                   "--chaos-keep-cluster"):
        assert option in help_text, option
    # A user's test under e2e/ is not marked by us; our fixture works (here it skips, as asked: the kubeconfig
    # named does not exist, and nothing is created unless asked).
    result = pytester.runpytest_inprocess("-p", "kubetest_stand_in", "-rs", "--chaos-kubeconfig", "/nonexistent",
                                          "--chaos-skip-without-cluster")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*nothing is created unless asked*"])
