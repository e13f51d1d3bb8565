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


def test_reads_the_image_id_from_old_and_new_crictl():
    from harness.testbed.cluster import crictl_image_id

    assert crictl_image_id('{"image": {"id": "sha256:new", "repoTags": []}}') == "sha256:new"
    assert crictl_image_id('{"status": {"id": "sha256:old"}, "info": {}}') == "sha256:old"
    assert crictl_image_id('{"status": {}}') is None
    assert crictl_image_id("no such image") is None


def test_inotify_limits_are_raised_never_lowered(tmp_path):
    from harness.testbed.cluster import raise_inotify_limits

    (tmp_path / "max_user_instances").write_text("128\n")
    (tmp_path / "max_user_watches").write_text("1048576\n")
    raise_inotify_limits(tmp_path)
    assert (tmp_path / "max_user_instances").read_text() == "512"
    assert (tmp_path / "max_user_watches").read_text() == "1048576\n"


def test_a_limit_that_cannot_be_raised_names_the_fix_or_only_warns(tmp_path, caplog):
    import pytest

    from harness.testbed.cluster import raise_inotify_limits
    from harness.testbed.shell import BuildError

    (tmp_path / "max_user_instances").mkdir()  # unreadable as a number, unwritable as a file
    (tmp_path / "max_user_watches").write_text("524288")
    with pytest.raises(BuildError, match=r"sudo sysctl fs.inotify.max_user_instances=512"):
        raise_inotify_limits(tmp_path)
    raise_inotify_limits(tmp_path, required=False)
    assert "sudo sysctl fs.inotify.max_user_instances=512" in caplog.text
