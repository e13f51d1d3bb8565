"""This project's own test policy (the plugin applies none to other projects): tests under tests/e2e are
marked e2e, and tests marked faithful_only skip unless the cluster runs the faithful timing profile."""

from __future__ import annotations

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
