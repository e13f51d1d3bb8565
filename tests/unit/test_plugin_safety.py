"""The pytest plugin never creates, recreates or deletes a cluster unless asked (--chaos-create-testbed), never one the
user named, nor one that exists; a test with no cluster fails in one line naming the fix (a skip only when asked)."""

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
    monkeypatch.setenv("KUBECONFIG", "/nonexistent/kubeconfig")  # whatever this machine's user has: not here
    return calls


@pytest.mark.parametrize("args,expect", [
    (["--chaos-kubeconfig", "/nonexistent/kubeconfig"], "with --chaos-kubeconfig as given"),
    (["--chaos-kube-context", "kind-typo"], "with --chaos-kube-context as given"),
    (["--chaos-kind-cluster", "other"], "with --chaos-kind-cluster as given"),
])
def test_a_named_cluster_that_does_not_answer_is_never_created(pytester: pytest.Pytester, no_testbed_up: list[str],
                                                                args: list[str], expect: str) -> None:
    pytester.makepyfile(TEST)
    result = pytester.runpytest_inprocess("-rs", "--chaos-create-testbed", "--chaos-skip-without-cluster", *args)
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines([f"*{expect}*nothing is created*"])
    assert no_testbed_up == []


def test_without_a_cluster_nothing_is_created_unless_asked_and_each_test_fails_in_one_line(
        pytester: pytest.Pytester, no_testbed_up: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A pip user's first `pytest` with the plugin and no cluster: docker may answer, still nothing is built; the
    line names the fix; the session's other tests run."""
    from chaos_harness.frontends import pytest_plugin

    monkeypatch.setattr(pytest_plugin, "_docker_answers", lambda: True)
    pytester.makepyfile(TEST + "\n\ndef test_unrelated():\n    pass\n")
    result = pytester.runpytest_inprocess()
    result.assert_outcomes(errors=1, passed=1)
    assert no_testbed_up == []
    result.stdout.fnmatch_lines(["*no cluster to test*nothing is created unless asked*--chaos-create-testbed*"])
    skipped = pytester.runpytest_inprocess("-rs", "--chaos-skip-without-cluster")
    skipped.assert_outcomes(skipped=1, passed=1)
    monkeypatch.setenv("CI", "true")
    pytester.runpytest_inprocess("--chaos-skip-without-cluster").assert_outcomes(errors=1, passed=1)


def test_the_testbed_is_created_only_when_asked(pytester: pytest.Pytester, no_testbed_up: list[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from chaos_harness.frontends import pytest_plugin
    from chaos_harness.testbed import cluster as testbed

    monkeypatch.setattr(pytest_plugin, "_docker_answers", lambda: True)
    monkeypatch.setattr(testbed, "kind_binary", lambda: "kind")
    monkeypatch.setattr(testbed, "cluster_exists", lambda kind: False)
    monkeypatch.setattr(testbed, "kubeconfig_path", lambda: pytester.path / "nonexistent.kubeconfig")
    pytester.makepyfile(TEST)
    result = pytester.runpytest_inprocess("--chaos-create-testbed")
    result.assert_outcomes(errors=1)  # the stand-in `up` made nothing: connecting after it fails
    assert no_testbed_up == ["up"]
    result.stdout.fnmatch_lines(["*creating it failed*"])


def test_a_named_cluster_fails_in_ci_instead_of_skipping(pytester: pytest.Pytester, no_testbed_up: list[str]) -> None:
    pytester.makepyfile(TEST)
    result = pytester.runpytest_inprocess("--chaos-require-cluster", "--chaos-skip-without-cluster",
                                          "--chaos-kubeconfig", "/nonexistent/kubeconfig")
    result.assert_outcomes(errors=1)
    assert no_testbed_up == []
    # One line per test, not the connection error's chain of tracebacks (seen: four levels under every test).
    out = result.stdout.str()
    assert "During handling of the above exception" not in out and "Traceback" not in out, out
    assert "The above exception was the direct cause" not in out, out


@pytest.mark.parametrize("args,said", [
    (["--chaos-api-qps", "-5"], "--chaos-api-qps -5: must be at least 1"),
    (["--chaos-api-qps", "0"], "--chaos-api-qps 0: must be at least 1"),
    (["--chaos-max-faulted-nodes", "-1"], "must be at least 0"),
    (["--chaos-wait-for-run", "-1"], "must be at least 0"),
    (["--chaos-run-lock", "BAD LOCK"], "--chaos-run-lock 'BAD LOCK' is not a Lease name"),
    (["--chaos-abort-when", "bogus"], "--chaos-abort-when"),
    (["--chaos-target-nodes", "!!"], "--chaos-target-nodes '!!' is not a label selector"),
    (["--chaos-report-dir", "/proc/x"], "can never hold files"),
    (["--chaos-agent-kubelet-unit", "a b"], "--chaos-agent-kubelet-unit 'a b' is not a service unit's name"),
    (["--chaos-kube-context", ""], "--chaos-kube-context '': empty"),
    (["--chaos-kubeconfig", " "], "--chaos-kubeconfig '': empty"),
])
def test_the_plugins_options_are_checked_before_any_test_runs(pytester: pytest.Pytester, args: list[str],
                                                              said: str) -> None:
    """As the CLI checks the same values: a usage error of one line, never a default taken silently."""
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    assert said in result.stderr.str(), result.stderr.str()
