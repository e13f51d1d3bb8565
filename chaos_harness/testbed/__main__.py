"""Test-bed commands used by the Makefile: `python -m chaos_harness.testbed up|down|image|status|logs|kind`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from chaos_harness.core import cancellation
from chaos_harness.core.errors import HarnessError
from chaos_harness.testbed import cluster, images
from chaos_harness.testbed.shell import BuildError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos_harness.testbed", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="create or reuse the kind cluster 'chaos' and wait until it is Ready")
    up.add_argument("--profile", choices=cluster.PROFILES, default="fast")
    sub.add_parser("down", help="delete the kind cluster 'chaos'")
    sub.add_parser("image", help="resolve the node image (pull, else build offline) and print its name")
    sub.add_parser("kind", help="install the pinned kind into .bin/ and print its path")
    sub.add_parser("status", help="print a summary of the running cluster")
    logs = sub.add_parser("logs", help="kind export logs into a directory")
    logs.add_argument("directory", type=Path)
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    cancellation.set_display(cancellation.LogDisplay())
    started = time.monotonic()
    try:
        if args.command == "up":
            spec = cluster.up(args.profile)
            print(f"cluster {cluster.CLUSTER_NAME} ready (profile {spec.profile}, image {spec.node_image}) "
                  f"in {time.monotonic() - started:.0f}s; kubeconfig {cluster.kubeconfig_path()}")
        elif args.command == "down":
            cluster.down()
        elif args.command == "image":
            print(images.node_image())
        elif args.command == "kind":
            print(cluster.kind_binary())
        elif args.command == "status":
            print(json.dumps(cluster.status(), indent=2))
        elif args.command == "logs":
            print(cluster.export_logs(args.directory))
    except (BuildError, HarnessError) as e:
        print(f"testbed {args.command}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
