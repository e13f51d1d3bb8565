from pathlib import Path

from chaos_harness.nodes.access import parse_crictl_ps

# Trimmed from `crictl ps -a -o json` on a kind v0.30.0 node.
CRICTL_PS = """
{
  "containers": [
    {
      "id": "3f1c0e",
      "podSandboxId": "9ab2",
      "metadata": {"name": "mysql", "attempt": 0},
      "state": "CONTAINER_RUNNING",
      "createdAt": "1763769600123456789",
      "labels": {
        "io.kubernetes.container.name": "mysql",
        "io.kubernetes.pod.name": "mysql-0",
        "io.kubernetes.pod.namespace": "chaos-1",
        "io.kubernetes.pod.uid": "uid-1"
      }
    }
  ]
}
"""


def test_parse_crictl_ps() -> None:
    [c] = parse_crictl_ps("chaos-worker", CRICTL_PS)
    assert (c.node, c.container_id, c.name, c.pod_name, c.pod_namespace, c.pod_uid, c.state) == (
        "chaos-worker", "3f1c0e", "mysql", "mysql-0", "chaos-1", "uid-1", "CONTAINER_RUNNING")
    assert c.created_at_ns == 1763769600123456789


def test_parse_crictl_ps_empty() -> None:
    assert parse_crictl_ps("n", "{}") == []
    assert parse_crictl_ps("n", "") == []


def test_the_streaming_sampler_reads_each_sample_its_exec_prints() -> None:
    import io
    import json
    import threading

    from chaos_harness.nodes.docker import SAMPLE_MARK, StreamingFeed

    ps = json.dumps({"containers": [{"id": "c1", "metadata": {"name": "app"}, "state": "CONTAINER_RUNNING",
                                     "createdAt": "5", "labels": {"io.kubernetes.pod.name": "web-0"}}]})
    printed = (f"\n{SAMPLE_MARK} 100.5 0\n{ps}\n{SAMPLE_MARK}-end\n"
               f"\n{SAMPLE_MARK} 101.5 1\nconnect: connection refused\n{SAMPLE_MARK}-end\n"
               f"\n{SAMPLE_MARK} 102.5 0\n{{not json\n{SAMPLE_MARK}-end\n")

    class Exec:  # the docker exec's side: what it printed, then it ended on its own
        stdout = io.StringIO(printed)
        returncode = 0

        def wait(self) -> int:
            return 0

    seen: list[tuple] = []
    StreamingFeed(["w1"], 0.5)._read("w1", Exec(), threading.Event(),  # type: ignore[arg-type]
                                     lambda node, ok, **kw: seen.append((node, ok, kw)))
    assert [(n, ok, kw.get("sampled_at")) for n, ok, kw in seen] == [("w1", True, 100.5), ("w1", False, 101.5),
                                                                     ("w1", False, 102.5)]
    assert seen[0][2]["containers"][0].pod_name == "web-0"
    assert "exited 1: connect: connection refused" in seen[1][2]["error"]
    assert "unreadable" in seen[2][2]["error"]


def test_stream_ends_right_after_its_last_sample(tmp_path: Path) -> None:
    """At its time limit the in-node loop exits after a sample, not after one more sleep: a restart's gap
    between two samples is then the next exec's start and one read, no interval more."""
    import subprocess
    import time

    from chaos_harness.nodes import docker as nodes

    crictl = tmp_path / "crictl"
    crictl.write_text('#!/bin/sh\necho \'{"containers": []}\'\n')
    crictl.chmod(0o755)
    script = nodes._STREAM_SCRIPT.replace(f"+ {nodes.STREAM_SECONDS + nodes.HANDOVER_SECONDS} ))", "+ 0 ))")  # its time is up at once
    started = time.monotonic()
    out = subprocess.run(["sh", "-c", script, "sh", "5"], capture_output=True, text=True, timeout=10,
                         env={"PATH": f"{tmp_path}:/usr/bin:/bin"}).stdout
    assert time.monotonic() - started < 2  # the old loop slept its 5 s interval before it looked at the time
    assert out.count(nodes.SAMPLE_MARK + "-end") == 1
