"""The durability probe chaos-harness calls (entry point `keystore` in chaos_harness.probes): write(key) appends
a key to pod 0's file and syncs it; read() returns every key the file holds."""

from __future__ import annotations


class KeystoreProbe:
    def __init__(self, target) -> None:  # a chaos-harness StatefulSetTarget: cluster, namespace, pod(n)
        self.cluster, self.namespace, self.pod = target.cluster, target.namespace, target.pod(0)

    def write(self, key: int) -> None:
        # check() raises on a non-zero exit: chaos-harness records the write as `unknown` (it may have landed).
        self.cluster.exec(self.namespace, self.pod, ["sh", "-c", f"echo {key} >> /data/keys && sync"],
                          timeout=10).check(f"append {key}")

    def read(self) -> list[int]:
        out = self.cluster.exec(self.namespace, self.pod, ["cat", "/data/keys"], timeout=30).check("read keys")
        return [int(line) for line in out.split()]
