"""The pytest plugin never creates, recreates or deletes a cluster the user named, nor one that exists."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

TEST = """
def test_needs_cluster(cluster):
    pass
"""


@pytest.fixture
def no_testbed_up(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from chaos_harness.testbed import cluster as testbed

    calls: list[str] = []
    monkeypatch.setattr(testbed, "up", lambda *a, **k: calls.append("up"))
    monkeypatch.setattr(testbed, "down", lambda *a, **k: calls.append("down"))
    monkeypatch.delenv("CI", raising=False)
    return calls


@pytest.mark.parametrize("args,expect", [
    (["--chaos-kubeconfig", "/nonexistent/kubeconfig"], "with --chaos-kubeconfig as given"),
    (["--chaos-kube-context", "kind-typo"], "with --chaos-kube-context as given"),
    (["--chaos-kind-cluster", "other"], "with --chaos-kind-cluster as given"),
])
def test_a_named_cluster_that_does_not_answer_is_never_created(pytester: pytest.Pytester, no_testbed_up: list[str],
                                                                args: list[str], expect: str) -> None:
    pytester.makepyfile(TEST)
    result = pytester.runpytest_inprocess("-rs", *args)
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines([f"*{expect}*nothing is created*"])
    assert no_testbed_up == []


def test_a_named_cluster_fails_in_ci_instead_of_skipping(pytester: pytest.Pytester, no_testbed_up: list[str]) -> None:
    pytester.makepyfile(TEST)
    result = pytester.runpytest_inprocess("--chaos-require-cluster", "--chaos-kubeconfig", "/nonexistent/kubeconfig")
    result.assert_outcomes(errors=1)
    assert no_testbed_up == []
