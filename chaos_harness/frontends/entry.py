"""The `chaos-harness` command's first lines: a signal that arrives while Python is still importing the harness
(a second or more on a busy machine) ends it with one line and the conventional exit (130, 143), as one that
arrives later does, instead of a KeyboardInterrupt traceback from an import or a silent death by SIGTERM.

Nothing has been done before the command's own handlers are in place (cli._main installs them before it
connects), so the early handler only says so and exits."""

from __future__ import annotations

import os
import signal
import sys


def _interrupted_while_starting(signum: int, frame: object) -> None:
    os.write(2, f"chaos-harness: interrupted by {signal.Signals(signum).name} while starting: nothing had been "
                f"done\n".encode())
    os._exit(128 + signum)


def main() -> int:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupted_while_starting)
    from chaos_harness.frontends.cli import main as command

    # From here the command's own handling: Ctrl-C is a KeyboardInterrupt its `finally` blocks unwind; SIGTERM
    # keeps the early handler until the command puts its own in place, before anything is done.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return command()


if __name__ == "__main__":
    sys.exit(main())
