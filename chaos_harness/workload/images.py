"""The images a workload runs, as references: where they come from (pulled, or built offline by the test bed)
is decided where the harness is assembled."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MySQLImages:
    """The two images the MySQL StatefulSet uses, and which server they hold (it changes one config line)."""

    mysql: str
    xtrabackup: str
    flavour: str  # "mysql" (upstream images) or "mariadb" (offline build)
