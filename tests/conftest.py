"""This project's own test policy (the plugin applies none to other projects): tests under tests/e2e are
marked e2e, and tests marked faithful_only skip unless the cluster runs the faithful timing profile.

Three lanes, run at the same time by `make test` (pytest-xdist, -n 3): the tests in SIDE_LANES fault
nodes with light workloads on their lane's two tainted workers of the test bed (manifests/kind/*.yaml: label
and taint chaos-harness.test/lane=<lane>), everything else that touches the cluster runs in the main lane on
the untainted workers, which the taints keep the side lanes' pods off. Each lane runs its own tests one at a
time, so node faults never meet a foreign pod."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

# Balanced by the tests' measured times (3 lanes on 2 cores, 11 nodes; sums of test times in a fresh-clone CI run,
# 628 tests): side 957 s, side2 760 s, main 755 s before the node agent's pause and partition SIGKILL tests (about
# 2 x 60 s) joined test_foreign_cluster.py; test_signals.py (216 s) then moved to side2 and test_split_brain.py and
# test_testbed.py (68 s) to side. The schedule test takes 341 s when the harness image is rebuilt for changed
# sources (as in every CI run after a commit). The longest lane is make test's critical path. test_shared_cluster.py
# (307 s on a busy machine) runs in the main lane (613 s without it; side2 was 1092 s with it).
SIDE_LANES = {
    "side": {"test_faults.py", "test_cleanup.py", "test_foreign_cluster.py", "test_node_agent.py",
             "test_testbed.py", "test_split_brain.py", "test_agent_load.py"},
    "side2": {"test_user_target.py", "test_schedule.py", "test_signals.py"},
}
LANE_LABEL = "chaos-harness.test/lane"


def pytest_configure(config: pytest.Config) -> None:
    # xdist workers, and a pytest started in the background by a non-interactive shell, begin with SIGINT
    # ignored, and an ignored signal stays ignored across exec: the signal tests' harness processes would never
    # see their SIGINT. Give this process (and so its children) the default back.
    import signal

    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "e2e" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.e2e)


def lane_of(nodeid: str) -> str | None:
    """"side" or "main" for an end-to-end test, None for the others (they run on any worker)."""
    path = Path(nodeid.split("::", 1)[0])
    if "e2e" not in path.parts:
        return None
    return next((lane for lane, files in SIDE_LANES.items() if path.name in files), "main")


def pytest_xdist_make_scheduler(config: pytest.Config, log):  # type: ignore[no-untyped-def]
    """Each lane is one unit of work for one worker (its tests one after the other), everything else is spread.
    (xdist's own `--dist loadgroup` marks do not reach the scheduler under pytest 9.2: its node ids are fixed.)"""
    from xdist.scheduler import LoadScopeScheduling

    class LaneScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return lane_of(nodeid) or nodeid

    return LaneScheduling(config, log)


@dataclass(frozen=True)
class SideLane:
    """The side workers: `selector` for the harness's --target-nodes, `nodes` by name, and `placed(namespace)`
    for a test's own workloads (pinned there, tolerating the lane's taint)."""
    selector: str
    nodes: tuple[str, ...]
    tolerations: tuple[tuple[str, str, str], ...]

    @contextmanager
    def placed(self, namespace: str) -> Iterator[None]:
        from chaos_harness.workload.placement import Placement, placed

        with placed(namespace, Placement(self.nodes, self.tolerations)):
            yield

    def pod(self, body: dict) -> dict:
        from chaos_harness.workload.placement import pinned

        return pinned(body, self.nodes, self.tolerations)


@pytest.fixture(scope="module")
def side_lane(cluster, request: pytest.FixtureRequest) -> SideLane:  # type: ignore[no-untyped-def]
    """The workers of the side lane the requesting test module runs in."""
    from chaos_harness.workload.placement import pool_tolerations

    lane = lane_of(str(request.path.relative_to(Path(__file__).resolve().parent.parent)))
    if lane not in SIDE_LANES:
        pytest.fail(f"{request.path.name} asks for side workers but is in no side lane: add it to SIDE_LANES")
    selector = f"{LANE_LABEL}={lane}"
    nodes = cluster.core.list_node(label_selector=selector).items
    if len(nodes) < 2:
        pytest.fail(f"the test bed has {len(nodes)} workers labelled {selector}, the lane needs 2: "
                    f"'make cluster' re-creates it from manifests/kind/")
    return SideLane(selector, tuple(sorted(n.metadata.name for n in nodes)), pool_tolerations(nodes))


@pytest.fixture(autouse=True)
def _faithful_only(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("faithful_only"):
        profile = request.getfixturevalue("timing_profile")
        if profile != "faithful":
            pytest.skip(f"needs the faithful timing profile (the cluster runs {profile}); "
                        f"make cluster PROFILE=faithful")


@pytest.fixture(scope="session")
def keystore_objects() -> Callable[..., tuple[dict, dict]]:
    """The example user project's StatefulSet (examples/keystore: a shell appending keys to a file on its PVC),
    as `objects(namespace, image, replicas) -> (service, statefulset)`: the cheapest workload a user's-target
    test can use. Loaded from its file: the example's folder (where pip leaves egg-info) stays off sys.path, so
    its entry points do not leak into the suite."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "examples" / "keystore" / "keystore_chaos" / "deploy.py"
    spec = importlib.util.spec_from_file_location("keystore_example_deploy", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.objects  # type: ignore[no-any-return]
