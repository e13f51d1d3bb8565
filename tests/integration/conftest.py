"""Fixtures for tests against a real MySQL-compatible server in a local container (no cluster)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

# The reaper image cannot be pulled where no registry is reachable; containers are stopped by the fixtures.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

from testcontainers.core.container import DockerContainer  # noqa: E402

from chaos_harness.frontends.pytest_plugin import unavailable  # noqa: E402
from chaos_harness.testbed import images  # noqa: E402
from chaos_harness.testbed.shell import BuildError  # noqa: E402
from chaos_harness.workload.mysql_client import Endpoint, wait_until_serving  # noqa: E402


@pytest.fixture(scope="session")
def mysql_image(pytestconfig: pytest.Config) -> str:
    """The local MySQL-compatible image: the tutorial's mysql:5.7 when it can be pulled, else the MariaDB build."""
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        unavailable(pytestconfig, "no docker engine answers; start one with scripts/ensure-docker.sh")
    try:
        return images.mysql_images().mysql
    except BuildError as e:
        pytest.fail(f"could not resolve the MySQL image: {e}", pytrace=False)


class MySQLServer:
    def __init__(self, image: str) -> None:
        self.container = (DockerContainer(image)
                          .with_env("MYSQL_ALLOW_EMPTY_PASSWORD", "1")
                          .with_bind_ports(3306, None))

    def start(self) -> "MySQLServer":
        self.container.start()
        wait_until_serving(self.endpoint())
        return self

    def endpoint(self) -> Endpoint:
        wrapped = self.container.get_wrapped_container()
        wrapped.reload()
        port = int(wrapped.ports["3306/tcp"][0]["HostPort"])
        return Endpoint(port=port, name="testcontainer")

    def kill(self) -> None:
        self.container.get_wrapped_container().kill()

    def restart(self) -> None:
        self.container.get_wrapped_container().start()
        wait_until_serving(self.endpoint())

    def stop(self) -> None:
        self.container.stop()


@pytest.fixture
def mysql_server(mysql_image: str) -> Iterator[MySQLServer]:
    server = MySQLServer(mysql_image).start()
    yield server
    server.stop()
