"""An API server that trickles, lies or answers garbage: every answer is bounded and checked where it arrives
(core/answers.py), and a command ends in one line naming the request and what came back, exit 2.

Fake servers on loopback only (tests/unit/fake_api.py); each command is bounded by the deadline it reports."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chaos_harness.core.answers import BadAnswer, is_stream, request_seconds, shape_problem
from chaos_harness.core.api_errors import api_errors
from chaos_harness.core.errors import ClusterError
from chaos_harness.core.kube import connect
from fake_api import fake_api, kubeconfig_for

NS = "/api/v1/namespaces/kube-system"
LEASE = "/apis/coordination.k8s.io/v1/namespaces/chaos-harness/leases/run"


@pytest.mark.parametrize("method,path,body,problem", [
    ("GET", NS, b'{"metadata": {"name": "kube-system"}}', None),
    ("GET", NS, b"{}", "an object without metadata.name"),
    ("GET", NS, b'{"metadata": {"name": "default"}}', "the object 'default' where 'kube-system' was asked for"),
    ("GET", NS, b'{"metadata": null}', "an object without metadata.name"),
    ("GET", NS, b'{"metadata": {"name": 5}}', "an object without metadata.name"),
    ("GET", NS, b"[1, 2]", "a JSON list where an object was expected"),
    ("GET", NS, b'"abc"', "a JSON str where an object was expected"),
    ("GET", NS, b"<html>502</html>", "that are not JSON"),
    ("GET", NS, bytes(range(256)), "256 bytes that are not JSON"),
    ("GET", NS, b"[" * 100_000 + b"]" * 100_000, "that are not JSON"),
    ("GET", "/api/v1/nodes", b'{"items": []}', None),
    ("GET", "/api/v1/nodes", b'{"items": [{"metadata": {"name": "n1"}}, {}]}', "item 1 has no metadata.name"),
    ("GET", "/api/v1/nodes", b'{"items": null}', "a list without items"),
    ("GET", "/api/v1/nodes", b'{"kind": "NodeList"}', "a list without items"),
    ("GET", "/api/v1/namespaces", b'{"items": [{"metadata": {"name": "a"}}]}', None),
    ("GET", "/apis/apps/v1/namespaces/shop/statefulsets", b'{"items": [5]}', "item 0 has no metadata.name"),
    ("GET", LEASE, b'{"metadata": {"name": "run"}}', None),
    ("GET", "/apis/apps/v1/namespaces/shop/statefulsets/db/scale", b'{"spec": {}}', None),
    ("GET", "/api/v1/namespaces/shop/pods/db-0/log", b"plain text, not JSON", None),
    ("GET", "/version", b'{"gitVersion": "v1.35.0"}', None),
    ("GET", "/version", b'{"major": "1"}', "a version without gitVersion"),
    ("GET", "/apis", b'{"groups": []}', None),
    ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", b'{"status": {"allowed": true}}', None),
    ("POST", "/api/v1/namespaces", b"[]", "a JSON list where an object was expected"),
    ("DELETE", NS, b"garbage", "that are not JSON"),
])
def test_the_shape_of_an_answer_is_checked_against_what_was_asked(method: str, path: str, body: bytes,
                                                                  problem: str | None) -> None:
    found = shape_problem(method, "https://h:6443" + path + "?limit=500", body)
    assert (found is None) if problem is None else (problem in (found or "")), found


@pytest.mark.parametrize("url,stream", [
    ("https://h/api/v1/pods?watch=true&resourceVersion=1", True), ("https://h/api/v1/pods?watch=True", True),
    ("https://h/api/v1/namespaces/a/pods/p/log?follow=true", True), ("https://h/api/v1/pods?limit=5", False),
    ("https://h/api/v1/pods?watch=false", False), ("https://h/api/v1/namespaces/watch", False),
])
def test_streams_are_left_to_their_readers(url: str, stream: bool) -> None:
    assert is_stream(url) is stream


@pytest.mark.parametrize("timeout,seconds", [(10, 10.0), (2.5, 2.5), ((5, 10), 15.0), (None, 60.0), (0, 60.0),
                                             ("x", 60.0)])
def test_the_whole_request_has_one_deadline(timeout: object, seconds: float) -> None:
    assert request_seconds(timeout) == seconds


@pytest.mark.parametrize("mode,said", [
    ("trickle", "and it had not finished (a body that trickles)"), ("garbage", "that are not JSON"),
    ("deep", "that are not JSON"), ("another", "the object 'someone-else' where 'kube-system' was asked for"),
    ("half", "an object without metadata.name"), ("html", "that are not JSON"),
])
def test_a_read_through_the_client_is_bounded_and_checked(tmp_path: Path, mode: str, said: str) -> None:
    """What every caller gets: a ClusterError by api_errors naming the request, within the request's deadline."""
    with fake_api(mode) as url:
        cluster = connect(kubeconfig_for(url, tmp_path))
        started = time.monotonic()
        with pytest.raises(ClusterError) as e, api_errors("reading namespace kube-system"):
            cluster.core.read_namespace("kube-system", _request_timeout=2)
        elapsed = time.monotonic() - started
    message = str(e.value)
    assert isinstance(e.value.__cause__, BadAnswer) and said in message, message
    assert message.startswith("reading namespace kube-system: GET /api/v1/namespaces/kube-system answered")
    assert "\n" not in message and len(message) < 400 and elapsed < 5


def test_a_list_read_as_plain_json_is_checked_too(tmp_path: Path) -> None:
    from chaos_harness.core.light import light_list

    with fake_api("half") as url:
        cluster = connect(kubeconfig_for(url, tmp_path))
        with pytest.raises(BadAnswer, match="a list whose item 0 has no metadata.name"):
            light_list(cluster.core.list_node, _request_timeout=5)


@pytest.mark.parametrize("mode,argv,said", [
    ("trickle-version", ["doctor"], "GET /version/ answered: "),
    ("trickle", ["run", "s01"], "a body that trickles"),
    ("trickle", ["stop"], "a body that trickles"),
    ("garbage", ["schedule", "status"], "that are not JSON"),
    ("half", ["run", "s01"], "an object without metadata.name"),
    ("empty", ["doctor"], "an object without metadata.name"),
    ("list", ["stop"], "a JSON list where an object was expected"),
    ("scalar", ["schedule", "status"], "a JSON str where an object was expected"),
    ("named", ["doctor"], "an answer the client could not read"),
])
def test_a_hostile_api_server_ends_a_command_in_one_line(tmp_path: Path, mode: str, argv: list[str],
                                                         said: str) -> None:
    with fake_api(mode) as url:
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "chaos_harness", "--kubeconfig",
                                 str(kubeconfig_for(url, tmp_path)), "--journal", str(tmp_path / "j.json"), *argv],
                                capture_output=True, text=True, timeout=90, cwd=tmp_path)
        elapsed = time.monotonic() - started
    errors = [line for line in result.stderr.splitlines() if line.startswith("chaos-harness")]
    print(f"\n| {mode} | {' '.join(argv)} | exit {result.returncode} after {elapsed:.0f}s | {errors} |")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert len(errors) == 1 and said in errors[0], result.stderr
    assert not (tmp_path / "reports").exists(), "nothing is made for a server that never answered properly"


EXEC_KUBECONFIG = """
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {{server: "https://127.0.0.1:1"{proxy}}}
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: sh
      args: ["-c", {script}]
      interactiveMode: Never
contexts:
- name: kind-exec
  context: {{cluster: c, user: u}}
current-context: kind-exec
"""


@pytest.mark.parametrize("script,proxy,said", [
    ("sleep 1000", "", "exec: the credential plugin sh did not finish within 2s"),
    ("echo denied >&2; exit 3", "", "exec: process returned 3. denied"),
    ("echo not-json", "", "exec: failed to decode process output"),
    ('echo \'{"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential", "status": {"token": "t"}}\'',
     ', proxy-url: "socks5://127.0.0.1:1"', "its proxy-url needs PySocks"),
])
def test_a_kubeconfigs_credential_plugin_and_proxy_fail_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                     monkeypatch: pytest.MonkeyPatch, script: str,
                                                                     proxy: str, said: str) -> None:
    """The client waits on an exec plugin for ever and logs its failure, then goes on without credentials."""
    from chaos_harness.core import kube
    from chaos_harness.frontends import cli

    monkeypatch.setattr(kube, "EXEC_PLUGIN_SECONDS", 2.0)
    kubeconfig = tmp_path / "exec.kubeconfig"
    kubeconfig.write_text(EXEC_KUBECONFIG.format(script=json.dumps(script), proxy=proxy))
    started = time.monotonic()
    code = cli.main(["--kubeconfig", str(kubeconfig), "--journal", str(tmp_path / "j.json"), "doctor"])
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and said in err and elapsed < 10, err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_at_any_moment_of_start_up_or_a_hanging_request_is_one_line(tmp_path: Path, signum: int) -> None:
    """While Python still imports the harness, while it connects, while a request trickles: one line on stderr
    and 128 + the signal, never a traceback from an import or a silent death (seen: SIGTERM 0.5 s into `run` on
    a hanging API ended it silently; SIGINT gave a KeyboardInterrupt traceback from pydantic's import)."""
    with fake_api("trickle") as url:
        kubeconfig = kubeconfig_for(url, tmp_path)
        for after in (0.3, 0.8, 1.5, 3.0):
            process = subprocess.Popen([sys.executable, "-m", "chaos_harness", "--kubeconfig", str(kubeconfig),
                                        "--journal", str(tmp_path / "j.json"), "run", "s01", "--report-dir",
                                        str(tmp_path / "reports")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True)
            time.sleep(after)
            process.send_signal(signum)
            out, err = process.communicate(timeout=60)
            assert process.returncode == 128 + signum, (after, err)
            assert err.count("\n") == 1 and "interrupted by" in err and "Traceback" not in err, (after, err)
