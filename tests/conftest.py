"""This project's own test policy (the plugin applies none to other projects): tests under tests/e2e are
marked e2e, and tests marked faithful_only skip unless the cluster runs the faithful timing profile."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "e2e" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.e2e)


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
