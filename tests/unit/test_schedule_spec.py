"""The schedule's bad input is caught before anything is applied, and every object it makes is labelled as its own."""

from __future__ import annotations

import pytest

from chaos_harness.frontends import schedule
from chaos_harness.core.errors import UsageError


@pytest.mark.parametrize("cron", ["0 3 * * *", "*/15 3-5 * jan-mar mon,fri", "@daily", "59 23 31 12 7", "0 0 1 */2 ?"])
def test_valid_schedules(cron: str) -> None:
    schedule.check_cron(cron)


@pytest.mark.parametrize("cron,expect", [
    ("0 3 * *", "has 5 fields"), ("60 * * * *", "minute field '60'"), ("0 24 * * *", "hour field '24'"),
    ("0 0 0 * *", "day of month field '0'"), ("0 0 * 13 *", "month field '13'"), ("* * * * 8", "day of week"),
    ("*/0 * * * *", "minute field"), ("5-1 * * * *", "minute field"), ("TZ=UTC 0 3 * * *", "--time-zone"),
    ("@sometimes", "has 5 fields"),
])
def test_invalid_schedules_name_the_field(cron: str, expect: str) -> None:
    with pytest.raises(UsageError, match=expect.replace("*", r"\*").replace("?", r"\?")):
        schedule.check_cron(cron)


def test_every_object_is_labelled_and_the_job_fails_fast_and_alone() -> None:
    spec = schedule.ScheduleSpec("nightly", "ops", "0 3 * * *", "img:1", "", 1200,
                                 avoid=(("shop", (("app", "db"),)),))
    objs = schedule.objects(spec)
    for obj in objs[1:]:  # the namespace may hold the user's own things: never deleted, so not labelled
        assert obj["metadata"]["labels"]["chaos-harness/schedule"] == "nightly", obj["kind"]
    cron = objs[-1]["spec"]
    job = cron["jobTemplate"]["spec"]
    pod = job["template"]["spec"]
    assert (cron["concurrencyPolicy"], job["backoffLimit"], job["activeDeadlineSeconds"]) == ("Forbid", 0, 1200)
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["CHAOS_HARNESS_OWN_NODE"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert "in-cluster" in pod["containers"][0]["args"]
    anti = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
    assert anti["namespaces"] == ["shop"] and anti["labelSelector"]["matchLabels"] == {"app": "db"}
    rules = objs[2]["rules"]
    assert {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]} in rules


def test_the_image_goes_only_where_the_schedules_pods_can_run() -> None:
    """`kind load` copies the whole harness image into each node it names (about 7 s per node): the control
    plane and the nodes whose taints the pod does not tolerate get none; a lifecycle taint (a node under a
    fault right now) does not count, the node runs the pods again once it is back."""
    from types import SimpleNamespace as NS

    from kubernetes import client

    from chaos_harness.frontends.schedule import objects, runnable_nodes

    def node(name, labels=None, *taints):
        return client.V1Node(metadata=client.V1ObjectMeta(name=name, labels=labels or {}),
                             spec=client.V1NodeSpec(taints=[client.V1Taint(key=k, effect=e) for k, e in taints]))

    nodes = [node("cp", {"node-role.kubernetes.io/control-plane": ""}), node("w1"),
             node("w2", None, ("chaos-harness.test/lane", "NoSchedule")),
             node("w3", None, ("dedicated", "PreferNoSchedule")),
             node("w4", None, ("node.kubernetes.io/unreachable", "NoExecute")),
             node("w5", None, ("gpu", "NoExecute"))]
    cluster = NS(core=NS(list_node=lambda **_: NS(items=nodes)))
    assert runnable_nodes(cluster) == ["w1", "w3", "w4"]
    # The rule above mirrors the pod spec: it tolerates nothing and keeps off the control plane.
    from chaos_harness.frontends.schedule import ScheduleSpec
    cron = next(o for o in objects(ScheduleSpec(name="n", namespace="ns", schedule="@daily", image="i", run_file="",
                                                    active_deadline_seconds=600))
                if o["kind"] == "CronJob")
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert "tolerations" not in pod
    assert pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": "node-role.kubernetes.io/control-plane", "operator": "DoesNotExist"}]}]
