"""The test bed's cluster helpers that need no cluster: thawing cgroups a killed node left frozen."""

from chaos_harness.testbed.cluster import thaw_frozen_cgroups


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
    from chaos_harness.testbed.cluster import crictl_image_id

    assert crictl_image_id('{"image": {"id": "sha256:new", "repoTags": []}}') == "sha256:new"
    assert crictl_image_id('{"status": {"id": "sha256:old"}, "info": {}}') == "sha256:old"
    assert crictl_image_id('{"status": {}}') is None
    assert crictl_image_id("no such image") is None


def test_inotify_limits_are_raised_never_lowered(tmp_path):
    from chaos_harness.testbed.cluster import raise_inotify_limits

    (tmp_path / "max_user_instances").write_text("128\n")
    (tmp_path / "max_user_watches").write_text("1048576\n")
    raise_inotify_limits(tmp_path)
    assert (tmp_path / "max_user_instances").read_text() == "512"
    assert (tmp_path / "max_user_watches").read_text() == "1048576\n"


def test_a_limit_that_cannot_be_raised_names_the_fix_or_only_warns(tmp_path, caplog):
    import pytest

    from chaos_harness.testbed.cluster import raise_inotify_limits
    from chaos_harness.testbed.shell import BuildError

    (tmp_path / "max_user_instances").mkdir()  # unreadable as a number, unwritable as a file
    (tmp_path / "max_user_watches").write_text("524288")
    with pytest.raises(BuildError, match=r"sudo sysctl fs.inotify.max_user_instances=512"):
        raise_inotify_limits(tmp_path)
    raise_inotify_limits(tmp_path, required=False)
    assert "sudo sysctl fs.inotify.max_user_instances=512" in caplog.text


def test_reads_the_engines_nanosecond_timestamps():
    from datetime import datetime, timezone

    from chaos_harness.testbed.cluster import _parse_engine_time

    assert _parse_engine_time("2026-11-24T21:49:06.123456789Z") == datetime(2026, 11, 24, 21, 49, 6, 123456,
                                                                            tzinfo=timezone.utc)
    assert _parse_engine_time("2026-11-24T21:49:06Z") == datetime(2026, 11, 24, 21, 49, 6, tzinfo=timezone.utc)


def test_after_a_node_restart_only_fresh_leases_and_containers_count_as_ready(monkeypatch):
    """The API keeps every node and pod Ready as they were before the engine restarted the nodes: a reuse must
    not trust that (seen in CI: the cluster judged healthy at once, its API server gone seconds later)."""
    from datetime import datetime, timedelta, timezone
    from types import SimpleNamespace as NS

    from kubernetes import client

    from chaos_harness.testbed import cluster as testbed

    restart = datetime(2026, 11, 24, 21, 49, 6, tzinfo=timezone.utc)
    before, after = restart - timedelta(minutes=30), restart + timedelta(seconds=20)

    def node(name):
        return client.V1Node(metadata=client.V1ObjectMeta(name=name), status=client.V1NodeStatus(
            conditions=[client.V1NodeCondition(type="Ready", status="True")]))

    def pod(name, node_name, started):
        return client.V1Pod(metadata=client.V1ObjectMeta(name=name), spec=client.V1PodSpec(containers=[],
                            node_name=node_name), status=client.V1PodStatus(
            phase="Running", conditions=[client.V1PodCondition(type="Ready", status="True")],
            container_statuses=[client.V1ContainerStatus(name="c", image="i", image_id="", ready=True,
                                                         restart_count=1, state=client.V1ContainerState(
                                                             running=client.V1ContainerStateRunning(
                                                                 started_at=started)))]))

    names = ["cp", "w1", "w2", "w3"]
    leases = {"cp": after, "w1": after, "w2": before, "w3": after}
    pods = {"kube-system": [pod("apiserver", "cp", before), pod("proxy-w1", "w1", after)],
            "local-path-storage": [pod("provisioner", "w3", after)]}
    fake = NS(api=None, core=NS(list_node=lambda **_: NS(items=[node(n) for n in names]),
                                list_namespaced_pod=lambda ns, **_: NS(items=pods[ns])))
    coordination = NS(list_namespaced_lease=lambda ns, **_: NS(items=[
        client.V1Lease(metadata=client.V1ObjectMeta(name=n), spec=client.V1LeaseSpec(renew_time=t))
        for n, t in leases.items()]))
    monkeypatch.setattr(client, "CoordinationV1Api", lambda api: coordination)
    assert testbed.unready(fake) == []  # without restart times: the stale statuses pass, as before
    started = {n: restart for n in names}
    assert testbed.unready(fake, started) == [
        "node w2: kubelet not heard from since the node restarted", "pod kube-system/apiserver"]
    leases["w2"] = after
    pods["kube-system"][0] = pod("apiserver", "cp", after)
    assert testbed.unready(fake, started) == []
