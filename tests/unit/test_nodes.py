from harness.nodes import parse_crictl_ps

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
