"""The chaos-harness pytest plugin: cluster options, fixtures and markers.

Every option is prefixed `--chaos-` (so it sits beside kubetest's and pytest-kind's), and the plugin applies
no marker and no autouse fixture to anyone's tests: it declares markers (e2e, disruptive, slow, faithful_only)
and offers fixtures. Fixtures that need the live cluster fail when CI=true or --chaos-require-cluster is
given, and skip with the reason otherwise, so a laptop without docker can still run the unit tests. With a docker engine
but no cluster, the plugin brings the test bed up itself and deletes it afterwards (unless --chaos-keep-cluster).

Scenario tests use `run_scenario("s08_kubelet_stop_mysql")`: the result joins this session's run under
--chaos-report-dir (report.html, results.json, history.jsonl, junit.xml), its verdict and times become JUnit
properties, and the report is linked as a pytest-html extra when pytest-html is installed.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

from chaos_harness.core.errors import HarnessError
from chaos_harness.core.kube import Cluster, allowed_contexts_from_env, connect
from chaos_harness.workload.images import MySQLImages

if TYPE_CHECKING:
    from chaos_harness.assemble.session import Session
    from chaos_harness.core.namespaces import NamespaceReaper
    from chaos_harness.faults import FaultSession
    from chaos_harness.nodes.access import NodeAccess
    from chaos_harness.record.recorder import Recorder
    from chaos_harness.report.results import RunWriter, ScenarioResult
    from chaos_harness.scenario import ScenarioEnv
    from chaos_harness.workload.mysql_cluster import MySQLWorkload
    from chaos_harness.workload.probe import Probe

RUN_KEY = pytest.StashKey["RunWriter"]()
DISPLAY_KEY = pytest.StashKey[object]()
REPORT_LINK_KEY = pytest.StashKey[str]()
# How long an existing test bed's API server may take to come back (an engine restart restarts its nodes).
API_RESTART_SECONDS = 90

MARKERS = {
    "e2e": "needs the live kind cluster (auto-applied under tests/e2e)",
    "disruptive": "injects a fault into the cluster (nodes, kubelets, pods)",
    "slow": "takes more than a minute",
    "faithful_only": "only meaningful with the faithful timing profile",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chaos-harness")
    group.addoption("--chaos-kubeconfig", default=None,
                    help="kubeconfig of the cluster (default, as the CLI: ./.kube/chaos.kubeconfig if present, else "
                         "KUBECONFIG or ~/.kube/config)")
    group.addoption("--chaos-kube-context", default=None, help="kube context to use (default: the kubeconfig's current)")
    group.addoption("--chaos-allow-context", action="append", default=[], help="also allow this context (glob); default kind-*")
    group.addoption("--chaos-kind-cluster", default="chaos", help="name of the kind cluster (node containers <name>-*)")
    group.addoption("--chaos-keep-namespaces", action="store_true", default=False,
                    help="leave each test's namespace behind for debugging")
    group.addoption("--chaos-require-cluster", action="store_true", default=False,
                    help="fail, never skip, a test whose cluster cannot be reached (the default; with CI=true even "
                         "--chaos-skip-without-cluster fails)")
    group.addoption("--chaos-skip-without-cluster", action="store_true", default=False,
                    help="skip, rather than fail, a test that asks for the cluster when none answers (not in CI)")
    group.addoption("--chaos-create-testbed", action="store_true", default=False,
                    help="create the local kind test bed (a docker engine, root, Go; the build takes minutes) when "
                         "no cluster answers; never done unless asked")
    group.addoption("--chaos-keep-cluster", action="store_true", default=False,
                    help="keep a cluster this session had to create (one that already existed is always kept)")
    group.addoption("--chaos-timing-profile", choices=("fast", "faithful"), default=None,
                    help="the timing profile the cluster must run (a cluster this session creates gets it); "
                         "default: whatever the cluster runs, fast when creating")
    group.addoption("--chaos-report-dir", default="reports", help="scenario runs go to <report-dir>/<run-id>/")
    group.addoption("--chaos-node-access", choices=("auto", "docker", "agent"), default="auto",
                    help="how scenarios reach nodes: docker exec (kind), the node agent, or auto")
    group.addoption("--chaos-target-nodes", default=None, metavar="SELECTOR",
                    help="label selector of the nodes faults may touch (default: no control-plane role)")
    group.addoption("--chaos-agent-image", default=None, metavar="IMAGE", help="the node agent's image")
    group.addoption("--chaos-agent-kubelet-unit", default=None, metavar="UNIT",
                    help="the kubelet's systemd unit on the nodes (default: the agent finds it)")
    group.addoption("--chaos-agent-runtime-endpoint", default=None, metavar="unix:///PATH",
                    help="the nodes' CRI endpoint (default: the agent finds it)")
    group.addoption("--chaos-api-qps", type=int, default=None, metavar="N",
                    help="at most N requests per second to the API server, sustained (default 50)")
    group.addoption("--chaos-api-burst", type=int, default=None, metavar="N",
                    help="at most N requests at once above --chaos-api-qps (default 100)")
    group.addoption("--chaos-run-lock", default="chaos-harness-run", metavar="NAME",
                    help="the run Lease this session holds while it runs (one run per Lease at a time; the "
                         "session's xdist workers and the CLI runs its tests start share it)")
    group.addoption("--chaos-wait-for-run", type=int, default=None, metavar="SECONDS",
                    help="wait up to SECONDS for another run's lock (default 0: fail at once, naming it)")
    group.addoption("--chaos-max-faulted-nodes", type=int, default=None, metavar="N",
                    help="at most N nodes faulted at once (default 1, or no limit on a kind test bed; 0: no limit)")
    group.addoption("--chaos-abort-when", action="append", default=[], metavar="CONDITION",
                    help="heal and abort when this breaches: 'command:CMD', an http(s) URL, 'prometheus:URL QUERY'")


def check_options(config: pytest.Config) -> None:
    """The plugin's options, checked as the CLI checks the same ones, before any test runs: a value a run would
    refuse is a pytest usage error of one line now, never a default taken silently or a traceback later. Only
    the options given are looked at (a session that uses none pays nothing)."""
    from chaos_harness.core.errors import HarnessError

    get = config.getoption
    try:
        for flag, least in (("--chaos-api-qps", 1), ("--chaos-api-burst", 1), ("--chaos-max-faulted-nodes", 0),
                            ("--chaos-wait-for-run", 0)):
            if get(flag) is not None and get(flag) < least:
                raise pytest.UsageError(f"{flag} {get(flag)}: must be at least {least}")
        for flag in ("--chaos-kube-context", "--chaos-kubeconfig"):
            if get(flag) is not None and not str(get(flag)).strip():
                raise pytest.UsageError(f"{flag} '': empty; name one, or leave the option out for the default")
        if get("--chaos-run-lock") != "chaos-harness-run":
            from chaos_harness.assemble.run_lock import check_lock_name

            check_lock_name(get("--chaos-run-lock"))
        if get("--chaos-target-nodes") is not None:
            from chaos_harness.core.selectors import check_selector

            check_selector(get("--chaos-target-nodes"), "--chaos-target-nodes")
        if get("--chaos-agent-kubelet-unit") is not None or get("--chaos-agent-runtime-endpoint") is not None:
            from chaos_harness.assemble.node_access import AccessOptions
            from chaos_harness.assemble.prepare import check_agent_layout

            check_agent_layout(AccessOptions(kubelet_unit=get("--chaos-agent-kubelet-unit"),
                                             runtime_endpoint=get("--chaos-agent-runtime-endpoint")))
        if get("--chaos-abort-when"):
            from chaos_harness.assemble.abort import parse_condition

            for condition in get("--chaos-abort-when"):
                parse_condition(condition, "--chaos-abort-when")
        if get("--chaos-report-dir") != "reports":
            from chaos_harness.assemble.prepare import writable_dir

            writable_dir(Path(get("--chaos-report-dir")), "--chaos-report-dir")
    except HarnessError as e:
        raise pytest.UsageError(str(e).replace("--agent-", "--chaos-agent-").replace("--run-lock", "--chaos-run-lock")
                                .replace("--target-nodes", "--chaos-target-nodes")) from e


def pytest_configure(config: pytest.Config) -> None:
    from chaos_harness.core import cancellation

    check_options(config)
    # Markers are declared, never applied: a project that installs the plugin marks its own tests.
    for name, doc in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {doc}")
    # Every long wait (image pull or build, kind load, cluster creation, Ready, namespace deletion) says what it
    # waits for: on stdout, so `pytest -s` shows it live and a failing test's captured output keeps it.
    config.stash[DISPLAY_KEY] = cancellation.set_display(cancellation.PrintDisplay())
    # One pytest invocation is one run group: its xdist workers (started after this, inheriting the environment)
    # and the CLI runs its tests start share the run lock instead of queueing behind one another.
    from chaos_harness.assemble.run_lock import run_group

    run_group()


def api_limits(config: pytest.Config) -> tuple[float, int]:
    from chaos_harness.core.throttle import DEFAULT_BURST, DEFAULT_QPS

    return (config.getoption("--chaos-api-qps") or DEFAULT_QPS, config.getoption("--chaos-api-burst") or DEFAULT_BURST)


def cluster_required(config: pytest.Config) -> bool:
    """A test that asks for the cluster fails when none answers, unless the user asked for skips (never in CI)."""
    return (not config.getoption("--chaos-skip-without-cluster") or bool(config.getoption("--chaos-require-cluster"))
            or os.environ.get("CI", "").lower() in ("1", "true", "yes"))


def unavailable(config: pytest.Config, message: str) -> NoReturn:
    """A missing cluster or engine: a failure of one line, or a skip with the reason when the user asked for
    skips (--chaos-skip-without-cluster, not in CI)."""
    # Raised `from None`: called while the connection error is being handled, the outcome would otherwise carry
    # it (and its own causes) as a chain of tracebacks under every test that asks for the cluster.
    if cluster_required(config):
        raise pytest.fail.Exception(message, pytrace=False) from None
    raise pytest.skip.Exception(message, _use_item_location=True) from None


def default_kubeconfig(config: pytest.Config) -> Path | None:
    """--chaos-kubeconfig, else as the CLI finds one: ./.kube/chaos.kubeconfig (a checkout's test bed) if present,
    else None: the client's own default, KUBECONFIG or ~/.kube/config."""
    from chaos_harness.frontends.cli_parser import default_kubeconfig as the_clis

    given = config.getoption("--chaos-kubeconfig")
    return Path(given) if given else the_clis()


@pytest.fixture(scope="session")
def run_id() -> str:
    """One id per test session: namespaces, reports and journals are named after it."""
    from chaos_harness.assemble.session import new_run_id

    return new_run_id()


@pytest.fixture(scope="session")
def chaos_session(cluster: Cluster, run_id: str, pytestconfig: pytest.Config) -> Iterator["Session"]:
    """This test session's run, opened as the CLI opens one (chaos_harness/assemble/session.py): profile checked, run
    registered in the journal for `cleanup`, node access assembled (--chaos-node-access), the run directory
    under --chaos-report-dir; at its end every namespace the session deleted is confirmed gone."""
    from chaos_harness.assemble.node_access import AccessOptions
    from chaos_harness.assemble.session import Session, SessionOptions
    from chaos_harness.core.errors import UsageError

    options = SessionOptions(report_dir=Path(pytestconfig.getoption("--chaos-report-dir")), source="pytest",
                             access=AccessOptions(mode=pytestconfig.getoption("--chaos-node-access"),
                                                  target_selector=pytestconfig.getoption("--chaos-target-nodes"),
                                                  agent_image=pytestconfig.getoption("--chaos-agent-image"),
                                                  kubelet_unit=pytestconfig.getoption("--chaos-agent-kubelet-unit"),
                                                  runtime_endpoint=pytestconfig.getoption(
                                                      "--chaos-agent-runtime-endpoint")),
                             timing_profile=pytestconfig.getoption("--chaos-timing-profile"), run_id=run_id,
                             run_lock=pytestconfig.getoption("--chaos-run-lock"),
                             wait_for_run=pytestconfig.getoption("--chaos-wait-for-run") or 0,
                             max_faulted_nodes=pytestconfig.getoption("--chaos-max-faulted-nodes"))
    try:
        from chaos_harness.assemble.abort import check_conditions, parse_condition
        from chaos_harness.assemble.run_lock import check_lock_name

        check_lock_name(options.run_lock)
        conditions = [parse_condition(c, "--chaos-abort-when") for c in pytestconfig.getoption("--chaos-abort-when")]
        check_conditions(conditions, "--chaos-abort-when")
        options.abort_conditions = tuple(conditions)
        with Session.open(cluster, options, [f"pytest {os.path.basename(str(pytestconfig.rootpath))}"]) as session:
            pytestconfig.stash[RUN_KEY] = session.writer
            yield session
    except UsageError as e:
        pytest.exit(str(e), returncode=pytest.ExitCode.USAGE_ERROR)


@pytest.fixture(scope="session")
def namespace_reaper(chaos_session: "Session") -> "NamespaceReaper":
    """Deletes test namespaces in the background; the session ends only once they are all gone."""
    return chaos_session.reaper


@pytest.fixture
def namespace(cluster: Cluster, run_id: str, namespace_reaper: "NamespaceReaper",
              request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test, derived from the run id; deleted afterwards (off the test's critical path:
    the session confirms every deletion before it ends)."""
    from chaos_harness.core.labels import RUN_LABEL
    from chaos_harness.core.namespaces import create_namespace

    test = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:20].strip("-")
    name = f"chaos-{run_id[-4:]}-{test}-{uuid.uuid4().hex[:4]}"
    create_namespace(cluster, name, {RUN_LABEL: run_id})
    yield name
    if not request.config.getoption("--chaos-keep-namespaces"):
        namespace_reaper.delete(name)


@pytest.fixture(scope="session")
def mysql_images(chaos_session: "Session") -> MySQLImages:
    """The MySQL workload images (pulled, or built offline), loaded into every node of the kind cluster."""
    return chaos_session.mysql_images()


@pytest.fixture(scope="session")
def kind_cluster_name(pytestconfig: pytest.Config) -> str:
    return str(pytestconfig.getoption("--chaos-kind-cluster"))


def _docker_answers() -> bool:
    import subprocess

    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


NO_CLUSTER_FIX = ("name yours with --chaos-kubeconfig (or KUBECONFIG) and --chaos-kube-context, allowed with "
                  "--chaos-allow-context unless it is a local kind-* one; or pass --chaos-create-testbed to build "
                  "the local kind test bed (docker, root, minutes)")


@pytest.fixture(scope="session")
def cluster(pytestconfig: pytest.Config, kind_cluster_name: str) -> Iterator[Cluster]:
    """The live cluster, found as the CLI finds it, after the context allowlist check. Nothing is created unless
    --chaos-create-testbed asks for the local test bed; no cluster: one line naming the fix under each test that
    asks for it (a skip when --chaos-skip-without-cluster asks for skips, never in CI)."""
    from chaos_harness.core.memory import cap_malloc_arenas

    cap_malloc_arenas()  # the recorders and waits run in this process (core/memory.py)
    allowed = allowed_contexts_from_env() + tuple(pytestconfig.getoption("--chaos-allow-context"))
    if pytestconfig.getoption("--chaos-create-testbed"):
        c, created = _testbed(pytestconfig, kind_cluster_name, allowed)
    else:
        c, created = _named_cluster(pytestconfig, allowed), False
    yield c
    c.api.close()
    if created and not pytestconfig.getoption("--chaos-keep-cluster"):
        from chaos_harness.testbed import cluster as testbed

        testbed.down()


def _named_cluster(config: pytest.Config, allowed: tuple[str, ...]) -> Cluster:
    try:
        c = connect(default_kubeconfig(config), config.getoption("--chaos-kube-context"), allowed, *api_limits(config))
        c.fingerprint()  # proves the API answers
        return c
    except HarnessError as e:
        problem = str(e)
    unavailable(config, f"no cluster to test ({problem}); nothing is created unless asked: {NO_CLUSTER_FIX}")


def _testbed(config: pytest.Config, kind_cluster_name: str, allowed: tuple[str, ...]) -> tuple[Cluster, bool]:
    """--chaos-create-testbed: the kind test bed's cluster, created when docker answers and no cluster of its name
    exists. A cluster the user named (a kubeconfig, a context, another kind cluster name) is never created,
    recreated or deleted; nor is one that exists but does not answer."""
    from chaos_harness.testbed import cluster as testbed

    given = config.getoption("--chaos-kubeconfig")
    kubeconfig = Path(given) if given else testbed.kubeconfig_path()
    context = config.getoption("--chaos-kube-context") or f"kind-{kind_cluster_name}"
    try:
        c = connect(kubeconfig, context, allowed, *api_limits(config))
        c.fingerprint()
        return c, False
    except HarnessError as e:
        problem = str(e)
    named = [o for o in ("--chaos-kubeconfig", "--chaos-kube-context") if config.getoption(o)]
    if kind_cluster_name != testbed.CLUSTER_NAME:
        named.append("--chaos-kind-cluster")
    if named:
        unavailable(config, f"cluster unreachable ({problem}) with {', '.join(named)} as given; nothing is created "
                            f"for a cluster you named")
    if not _docker_answers():
        unavailable(config, f"cluster unreachable ({problem}) and no docker engine to create the test bed; "
                            f"start one, or bring the test bed up from a checkout with 'make cluster'")
    if testbed.cluster_exists(testbed.kind_binary()):
        # Its API server may be between two lives (its node restarted with the engine): give it the minute and a
        # half `make cluster` gives it before calling the cluster broken.
        try:
            c = connect(kubeconfig, context, allowed, *api_limits(config))
            if testbed.api_answers_within(c, API_RESTART_SECONDS):
                return c, False
        except HarnessError:
            pass
        unavailable(config, f"the kind cluster {testbed.CLUSTER_NAME} exists but does not answer ({problem}; waited "
                            f"up to {API_RESTART_SECONDS} s); it is left alone: 'make cluster' repairs or recreates it")
    try:
        testbed.up(config.getoption("--chaos-timing-profile") or "fast")
        return connect(kubeconfig, context, allowed, *api_limits(config)), True
    except Exception as up_error:  # noqa: BLE001 - any failure of the build or of kind is the one line
        unavailable(config, f"cluster unreachable ({problem}) and creating it failed: {up_error}")


@pytest.fixture(scope="session")
def timing_profile(cluster: Cluster, pytestconfig: pytest.Config) -> str:
    """The cluster's timing profile (fast / faithful; 'unknown' for a cluster the test bed did not create).
    Asking for another one than the cluster runs stops the session: the profile is baked into the cluster."""
    from chaos_harness.assemble.session import check_profile
    from chaos_harness.core.errors import UsageError

    try:
        return check_profile(cluster, pytestconfig.getoption("--chaos-timing-profile"))
    except UsageError as e:
        pytest.exit(str(e), returncode=pytest.ExitCode.USAGE_ERROR)


@pytest.fixture(scope="session")
def chaos_run(chaos_session: "Session") -> "RunWriter":
    """This session's run directory under --chaos-report-dir: every scenario run by run_scenario lands in it."""
    return chaos_session.writer


@pytest.fixture(scope="session")
def node_access(chaos_session: "Session") -> tuple["NodeAccess", list[str]]:
    """The session's node access and target nodes, chosen as the CLI chooses them (--chaos-node-access);
    an agent installed for the session is removed at its end."""
    return chaos_session.access, chaos_session.target_nodes


@pytest.fixture
def run_scenario(cluster: Cluster, namespace: str, chaos_session: "Session",
                 request: pytest.FixtureRequest) -> Callable[[str], "ScenarioResult"]:
    """Run a scenario module by name in this test's namespace; returns its result (assert on result.ok with
    result.failure_message()). Records the verdict and times as JUnit properties and links the report."""
    from chaos_harness.assemble.catalogue import resolve_scenario, scenario_modules, uses_mysql

    def run(typed: str, target: str | None = None, probe: "str | Probe | None" = None,
            allow_target_changes: bool = False) -> ScenarioResult:
        """`target`: NAMESPACE/NAME (or NAMESPACE/LABEL=VALUE) of your own StatefulSet, for the targetable
        scenarios; `probe`: a Probe object, `module:object`, or an entry point's name in chaos_harness.probes;
        `allow_target_changes`: also the scenarios that scale and roll the target (its scale is restored)."""
        from chaos_harness.assemble.catalogue import changes_target, targetable
        from chaos_harness.core.errors import UsageError
        from chaos_harness.workload.probe import Probe, load_hook
        from chaos_harness.workload.target import parse_target, resolve_target

        modules = scenario_modules()
        try:
            name = resolve_scenario(typed, modules)
        except KeyError:
            raise pytest.UsageError(f"unknown scenario {typed}; known: {', '.join(modules)}") from None
        module = modules[name]
        resolved = None
        if target:
            if not targetable(module, True):
                raise UsageError(f"{name} deploys its own workload and cannot run on a target")
            if not targetable(module, allow_target_changes):
                raise UsageError(f"{name} changes the target's {changes_target(module)}; pass "
                                 f"allow_target_changes=True")
            resolved = resolve_target(cluster, parse_target(target))
            resolved.allow_changes = allow_target_changes
            if probe is not None:
                resolved.probe = probe if isinstance(probe, Probe) else load_hook(probe, resolved)
        images = request.getfixturevalue("mysql_images") if uses_mysql(module) and not resolved else None
        # The session's journal is the real one, so `chaos-harness cleanup` heals what a killed session left.
        result = chaos_session.run(name, module, images, resolved, namespace=namespace, junit=False)
        record_result(request, chaos_session, name, result)
        return result

    return run


def record_result(request: pytest.FixtureRequest, session: "Session", name: str, result: "ScenarioResult") -> None:
    """A scenario's verdict and times as the test's JUnit properties, and its report section linked from the
    pytest-html report."""
    from chaos_harness.report.results import junit_properties

    for key, value in junit_properties(result):
        request.node.user_properties.append((key, value))
    link = f"{session.writer.report_path}#{name}"
    request.node.user_properties.append(("report", link))
    request.node.stash[REPORT_LINK_KEY] = link
    print(f"{name}: {result.status} in {result.seconds:.0f}s ({result.wait_seconds:.0f}s waiting); report {link}")


@pytest.fixture(scope="session")
def run_scenarios(chaos_session: "Session") -> Callable[..., list["ScenarioResult"]]:
    """Run several scenarios in one go, side by side where what they hold allows, as `chaos-harness run
    --parallel N` does: those acting only on their own pods together, each node fault alone, each in a namespace
    of its own. Returns the results in the order given; pass each to `record_result` in its test."""
    from chaos_harness.assemble.catalogue import resolve_scenario, scenario_modules, uses_mysql
    from chaos_harness.assemble.session import Job

    def run(names: list[str], parallel: int = 3) -> list[ScenarioResult]:
        modules = scenario_modules()
        try:
            resolved = [resolve_scenario(n, modules) for n in names]
        except KeyError as e:
            raise pytest.UsageError(f"unknown scenario {e.args[0]}; known: {', '.join(modules)}") from None
        jobs = [Job(n, modules[n], chaos_session.mysql_images() if uses_mysql(modules[n]) else None) for n in resolved]
        return chaos_session.run_all(jobs, parallel, junit=False)

    return run


@pytest.fixture
def chaos_env(cluster: Cluster, namespace: str, chaos_session: "Session",
              request: pytest.FixtureRequest) -> Iterator["ScenarioEnv"]:
    """A scenario environment for a hand-written test: `chaos_env.recording()`, `chaos_env.faults.injected(...)`,
    `chaos_env.history`; its history goes into this session's run directory, its faults through the session's
    node access, journal and target nodes."""
    from chaos_harness.scenario import make_env

    s = chaos_session
    test = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)[:80]
    env = make_env(cluster, namespace, s.run_id, s.writer.dir / f"{test}.history.jsonl", s.journal,
                   nodes=s.access, targets=s.target_nodes, timing=s.timing, guard=s.guard)
    yield env
    env.history.close()


@pytest.fixture
def recorder(chaos_env: "ScenarioEnv") -> Iterator["Recorder"]:
    """The recorder, running for the whole test (pods, nodes, events, PVCs and every node's runtime)."""
    with chaos_env.recording() as rec:
        yield rec


@pytest.fixture
def faults(chaos_env: "ScenarioEnv") -> "FaultSession":
    """Inject faults with `with faults.injected(KubeletStop(node)):`: journaled first, healed on exit."""
    return chaos_env.faults


@pytest.fixture
def mysql(cluster: Cluster, namespace: str, mysql_images: MySQLImages) -> "MySQLWorkload":
    """The replicated MySQL StatefulSet deployed in this test's namespace, 3/3 Ready."""
    from chaos_harness.workload.mysql_cluster import MySQLWorkload

    workload = MySQLWorkload(cluster, namespace, mysql_images)
    workload.deploy()
    return workload


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    link = item.stash.get(REPORT_LINK_KEY, None)
    if link and report.when == "call":
        try:
            import pytest_html
        except ImportError:
            return
        report.extras = [*getattr(report, "extras", []), pytest_html.extras.url(link, name="chaos-harness report")]


def pytest_unconfigure(config: pytest.Config) -> None:
    """The JUnit XML pytest wrote goes into the run directory beside the report (pytest writes it at session
    finish, which has run by now)."""
    from chaos_harness.core import cancellation

    if DISPLAY_KEY in config.stash:
        cancellation.set_display(config.stash[DISPLAY_KEY])  # type: ignore[arg-type]
    writer = config.stash.get(RUN_KEY, None)
    xml = getattr(config.option, "xmlpath", None)
    if writer is not None and xml and Path(xml).exists():
        shutil.copyfile(xml, writer.dir / "junit.xml")
