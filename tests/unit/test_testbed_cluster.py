"""The test bed's cluster helpers that need no cluster: thawing cgroups a killed node left frozen."""

from harness.testbed.cluster import thaw_frozen_cgroups


def test_thaws_only_frozen_cgroups_under_the_named_containers(tmp_path):
    def cgroup(path: str, state: str):
        d = tmp_path / path
        d.mkdir(parents=True)
        (d / "freezer.state").write_text(state + "\n")
        return d

    cgroup("docker/abc", "THAWED")
    frozen = cgroup("docker/abc/kubelet.slice/pod1/cri-containerd-1.scope", "FROZEN")
    systemd = cgroup("system.slice/docker-abc.scope/kubelet.slice/pod2", "FREEZING")
    other = cgroup("docker/zzz/pod3", "FROZEN")

    assert thaw_frozen_cgroups(["abc"], root=tmp_path) == sorted([frozen, systemd])
    assert (frozen / "freezer.state").read_text() == "THAWED"
    assert (systemd / "freezer.state").read_text() == "THAWED"
    assert (other / "freezer.state").read_text().strip() == "FROZEN"
    assert thaw_frozen_cgroups(["abc", "missing"], root=tmp_path) == []
