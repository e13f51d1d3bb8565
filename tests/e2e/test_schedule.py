"""Scheduled resilience checks inside the cluster, as a user installs them: `chaos-harness schedule install`
(the harness image built offline and loaded into the kind nodes), a run started from the CronJob the way
`kubectl create job --from=cronjob/...` does, S8 on the user's StatefulSet through the node agent inside the
pod, an Event on the CronJob, `schedule status`, `schedule fetch` of a report the browser opens, and a planted
failing hypothesis that fails its Job with a Warning Event; `uninstall` leaves no labelled object. Bad input
(an invalid schedule) is exit 2 before anything is applied; --dry-run YAML is accepted by the API server."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from chaos_harness.core.kube import Cluster
from chaos_harness.core import namespaces
from chaos_harness.report.browser import HeadlessChromium, find_browser
from chaos_harness.workload import deploy

pytestmark = [pytest.mark.disruptive, pytest.mark.slow]

PROBE = 'probe_write = "sh -c \'echo {key} >> /data/keys && sync\'"\nprobe_read = "cat /data/keys"\n'




def harness(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chaos_harness", *args], capture_output=True, text=True,
                          timeout=timeout)


def labelled(cluster: Cluster, name: str) -> list[str]:
    selector = f"chaos-harness/schedule={name}"
    batch, rbac = client.BatchV1Api(cluster.api), client.RbacAuthorizationV1Api(cluster.api)
    found = [f"CronJob/{o.metadata.name}" for o in batch.list_cron_job_for_all_namespaces(label_selector=selector).items]
    found += [f"Job/{o.metadata.name}" for o in batch.list_job_for_all_namespaces(label_selector=selector).items]
    found += [f"ClusterRole/{o.metadata.name}" for o in rbac.list_cluster_role(label_selector=selector).items]
    found += [f"ClusterRoleBinding/{o.metadata.name}"
              for o in rbac.list_cluster_role_binding(label_selector=selector).items]
    for lister in (cluster.core.list_config_map_for_all_namespaces, cluster.core.list_service_account_for_all_namespaces,
                   cluster.core.list_persistent_volume_claim_for_all_namespaces):
        found += [f"{o.kind or 'object'}/{o.metadata.name}" for o in lister(label_selector=selector).items]
    return found


def start_job(cluster: Cluster, namespace: str, cronjob: str, job: str) -> None:
    """What `kubectl create job --from=cronjob/NAME JOB` does: the CronJob's job template, owned by it."""
    batch = client.BatchV1Api(cluster.api)
    cron = batch.read_namespaced_cron_job(cronjob, namespace)
    template = cron.spec.job_template
    batch.create_namespaced_job(namespace, client.V1Job(
        metadata=client.V1ObjectMeta(name=job, labels=template.metadata.labels,
                                     annotations={"cronjob.kubernetes.io/instantiate": "manual"},
                                     owner_references=[client.V1OwnerReference(
                                         api_version="batch/v1", kind="CronJob", name=cronjob, uid=cron.metadata.uid,
                                         controller=True)]),
        spec=template.spec))


def finished(cluster: Cluster, namespace: str, job: str, deadline: float) -> str:
    batch = client.BatchV1Api(cluster.api)
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        status = batch.read_namespaced_job(job, namespace).status
        if status.succeeded:
            return "succeeded"
        if status.failed:
            return "failed"
        time.sleep(3)
    raise AssertionError(f"job {job} did not finish in {deadline:.0f}s; its log:\n{job_log(cluster, namespace, job)}")


def job_log(cluster: Cluster, namespace: str, job: str, lines: int = 40) -> str:
    """The last lines of each of the job's pods, for an assertion's message."""
    pods = cluster.core.list_namespaced_pod(namespace, label_selector=f"job-name={job}").items
    return "".join(cluster.core.read_namespaced_pod_log(p.metadata.name, namespace, tail_lines=lines) for p in pods)


def events_of(cluster: Cluster, namespace: str, cronjob: str) -> list[client.CoreV1Event]:
    return cluster.core.list_namespaced_event(
        namespace, field_selector=f"involvedObject.kind=CronJob,involvedObject.name={cronjob}").items


def test_an_invalid_schedule_is_exit_2_before_anything_is_applied(cluster: Cluster) -> None:
    result = harness("schedule", "install", "--name", "never", "--schedule", "61 * * * *")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "minute field '61'" in result.stderr
    assert labelled(cluster, "never") == []


def test_dry_run_yaml_is_accepted_by_the_api_server(cluster: Cluster, tmp_path: Path) -> None:
    result = harness("schedule", "install", "--name", "dry", "--namespace", "default", "--schedule", "@daily",
                     "--image", "registry.example/chaos-harness:1", "--dry-run")
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert [d["kind"] for d in docs] == ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
                                         "ConfigMap", "PersistentVolumeClaim", "CronJob"]
    cron = docs[-1]["spec"]
    assert (cron["concurrencyPolicy"], cron["jobTemplate"]["spec"]["backoffLimit"]) == ("Forbid", 0)
    assert cron["startingDeadlineSeconds"] > 0 and cron["jobTemplate"]["spec"]["activeDeadlineSeconds"] > 600
    from chaos_harness.frontends.schedule import apply

    for doc in docs:  # what `kubectl apply --server-side --dry-run=server -f -` sends: nothing is persisted
        apply(cluster, doc, dry_run=True)
    assert labelled(cluster, "dry") == []


def test_a_scheduled_run_inside_the_cluster(cluster: Cluster, namespace: str, keystore_objects,
                                            tmp_path: Path, side_lane) -> None:
    phases: dict[str, float] = {}
    mark = time.monotonic()

    def took(phase: str) -> None:  # where the test's time goes, printed at its end
        nonlocal mark
        phases[phase], mark = round(time.monotonic() - mark, 1), time.monotonic()

    with side_lane.placed(namespace):
        deploy.apply(cluster, namespace, list(keystore_objects(namespace, deploy.helper_image(cluster), 2)))
    deploy.wait_statefulset_ready(cluster, namespace, "keystore", 2, 180)
    took("keystore")
    # The target, its faults and the run's agent only on this test's lane (tests/conftest.py): another lane's
    # test may hold one of the other workers NotReady, where an agent pod would never become Ready.
    # The run lock of its own: this pytest session's run group holds the default one while the scheduled pod runs.
    lane_nodes = f'target_nodes = "{side_lane.selector}"\nrun_lock = "chaos-harness-run-scheduled-test"\n'
    name, home = "nightly", f"{namespace}-sched"
    passing = tmp_path / "nightly.toml"
    passing.write_text(f'{lane_nodes}[[targets]]\nstatefulset = "{namespace}/keystore"\nscenarios = ["s08"]\n{PROBE}')
    # A planted failing hypothesis: a probe that reads back none of the keys it wrote (S7: durability fails).
    failing = tmp_path / "broken.toml"
    failing.write_text(f'{lane_nodes}[[targets]]\nstatefulset = "{namespace}/keystore"\nscenarios = ["s07"]\n'
                       f'probe_write = "true {{key}}"\nprobe_read = "echo"\n')
    try:
        # Its probes run commands in the target's pods: a run file the schedule must be told to trust.
        untrusted = harness("schedule", "install", "--name", name, "--namespace", home, "--schedule", "0 3 * * *",
                            "--config", str(passing), timeout=120)
        assert untrusted.returncode == 2 and "--trust-run-file" in untrusted.stderr, untrusted.stderr[-2000:]
        assert untrusted.stderr.count("\n") == 1 and labelled(cluster, name) == []
        installed = harness("schedule", "install", "--name", name, "--namespace", home, "--schedule", "0 3 * * *",
                            "--config", str(passing), "--trust-run-file", timeout=900)
        assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-2000:]
        broken = harness("schedule", "install", "--name", "broken", "--namespace", home, "--schedule", "0 4 * * *",
                         "--config", str(failing), "--trust-run-file", timeout=900)
        assert broken.returncode == 0, broken.stderr[-2000:]
        took("install x2")

        started = time.monotonic()
        start_job(cluster, home, name, f"{name}-now")
        assert finished(cluster, home, f"{name}-now", 600) == "succeeded"
        in_cluster = time.monotonic() - started
        [passed] = [e for e in events_of(cluster, home, name) if e.reason == "ResilienceCheckPassed"]
        assert passed.type == "Normal" and "all 1 scenarios held" in passed.message
        took("job S8")

        start_job(cluster, home, "broken", "broken-now")
        assert finished(cluster, home, "broken-now", 600) == "failed"
        told = events_of(cluster, home, "broken")
        failed = [e for e in told if e.reason == "ResilienceCheckFailed"]
        assert len(failed) == 1, f"events: {[(e.reason, e.message) for e in told]}\n{job_log(cluster, home, 'broken-now', 80)}"
        [failed] = failed
        assert failed.type == "Warning" and "s07_pod_delete_keeps_data" in failed.message and "durability" in failed.message
        took("job S7 (failing)")

        status = harness("schedule", "status", "--name", name, "--namespace", home)
        assert status.returncode == 0 and f"{name}-now: succeeded" in status.stdout, status.stdout + status.stderr
        assert "ResilienceCheckPassed" in status.stdout and "Bound" in status.stdout

        fetched = harness("reports", "fetch", "--name", name, "--namespace", home, "--to", str(tmp_path / "got"))
        assert fetched.returncode == 0, fetched.stderr
        [report] = list((tmp_path / "got").glob("2*/report.html"))
        took("status, fetch")
        print(f"\nin-cluster S8 on the keystore target: {in_cluster:.0f}s from job creation to completion; "
              f"{status.stdout}")
        browser = find_browser()
        if browser is not None:
            with HeadlessChromium(browser) as chromium:
                visit = chromium.visit(report, {"scenarios": "document.querySelectorAll('section.scenario').length"})
            assert visit.values["scenarios"] == 1 and not visit.console_errors and not visit.outside_requests
        took("browser")
    finally:
        for schedule in (name, "broken"):
            gone = harness("schedule", "uninstall", "--name", schedule, "--namespace", home)
            assert gone.returncode == 0, gone.stderr
        namespaces.delete_namespace(cluster, home, 180)
        took("uninstall")
        print(f"phases (s): {phases}")
    assert labelled(cluster, name) == [] and labelled(cluster, "broken") == []


def test_a_claim_that_never_binds_is_told_by_status(cluster: Cluster, tmp_path: Path) -> None:
    home = "chaos-sched-unbound"
    try:
        installed = harness("schedule", "install", "--name", "unbound", "--namespace", home, "--schedule", "@daily",
                            "--image", "registry.example/chaos-harness:1", "--storage-class", "no-such-class")
        assert installed.returncode == 0, installed.stderr
        status = harness("schedule", "status", "--name", "unbound", "--namespace", home)
        print(f"\n{status.stdout}")
        assert status.returncode == 0 and "unbound-reports is Pending" in status.stdout
        assert "it never bound" in status.stdout and "no run yet" in status.stdout
    finally:
        harness("schedule", "uninstall", "--name", "unbound", "--namespace", home)
        namespaces.delete_namespace(cluster, home, 120)
    assert labelled(cluster, "unbound") == []


def test_missing_permission_to_install_is_one_line(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    """An identity that may only read namespaces: the first object it may not apply is named, exit 2, no
    traceback, nothing applied."""
    cluster.core.create_namespaced_service_account(namespace, client.V1ServiceAccount(
        metadata=client.V1ObjectMeta(name="nobody")))
    rbac = client.RbacAuthorizationV1Api(cluster.api)
    reader = f"{namespace}-reader"
    rbac.create_cluster_role(client.V1ClusterRole(metadata=client.V1ObjectMeta(name=reader), rules=[
        client.V1PolicyRule(api_groups=[""], resources=["namespaces"], verbs=["get"])]))
    rbac.create_cluster_role_binding(client.V1ClusterRoleBinding(
        metadata=client.V1ObjectMeta(name=reader),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=reader),
        subjects=[client.RbacV1Subject(kind="ServiceAccount", name="nobody", namespace=namespace)]))
    token = cluster.core.create_namespaced_service_account_token("nobody", namespace, client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600))).status.token
    original = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    kubeconfig = tmp_path / "nobody.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "clusters": original["clusters"],
        "users": [{"name": "nobody", "user": {"token": token}}],
        "contexts": [{"name": "kind-nobody", "context": {"cluster": original["clusters"][0]["name"], "user": "nobody"}}],
        "current-context": "kind-nobody"}))
    result = harness("--kubeconfig", str(kubeconfig), "schedule", "install", "--name", "denied", "--namespace",
                     "chaos-sched-denied", "--schedule", "@daily", "--image", "registry.example/chaos-harness:1")
    print(f"\n{result.stderr}")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    rbac.delete_cluster_role_binding(reader)
    rbac.delete_cluster_role(reader)
    assert "not allowed to apply Namespace chaos-sched-denied" in result.stderr
    assert labelled(cluster, "denied") == []
