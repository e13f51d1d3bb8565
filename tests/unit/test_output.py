"""The command's output and its usage errors, as a shell sees them: a reader that goes away (`| head -1`) ends it
with 141 and nothing on stderr; a full disk or a closed stdout is one line on stderr and exit 1; a non-UTF-8 locale
is no traceback; a wrong value is one line and a hint, never the whole usage; user input is echoed shortened and
with its control characters escaped."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CLI = [sys.executable, "-m", "chaos_harness"]


def test_a_reader_that_goes_away_ends_it_quietly_with_141() -> None:
    proc = subprocess.Popen([*CLI, "list", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.close()  # the reader is gone before anything is written
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 141 and err == b"", (proc.returncode, err)


def test_a_full_disk_is_one_line_and_exit_1() -> None:
    with open("/dev/full", "w") as full:
        result = subprocess.run([*CLI, "list"], stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "No space left" in result.stderr


def test_a_closed_stdout_is_one_line_and_exit_1() -> None:
    result = subprocess.run([*CLI, "list"], stderr=subprocess.PIPE, text=True, timeout=60,
                            preexec_fn=lambda: os.close(1))
    assert result.returncode == 1 and "standard output is closed" in result.stderr and result.stderr.count("\n") == 1


def test_a_locale_without_utf8_is_no_traceback() -> None:
    env = {**os.environ, "LANG": "C", "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": ""}
    result = subprocess.run([*CLI, "list"], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-500:]


@pytest.mark.parametrize("args,said", [
    (["run", "--parallel", "x"], "--parallel"),
    (["run", "--bogus"], "unrecognized arguments: --bogus"),
    (["frobnicate"], "invalid choice"),
    (["--kube-context", "", "doctor"], "argument --kube-context/--context: empty"),
    (["--context", "", "doctor"], "argument --kube-context/--context: empty"),
    (["doctor", "--kube-context", " "], "argument --kube-context/--context: empty"),
])
def test_a_usage_error_is_one_line_and_a_hint(args: list[str], said: str) -> None:
    result = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and said in result.stderr and "--help'" in result.stderr
    assert result.stderr.count("\n") == 1 and "usage:" not in result.stderr, result.stderr


def test_user_input_echoed_in_an_error_is_shortened_and_escaped() -> None:
    name = "\x1b[31m" + "x" * 100_000
    result = subprocess.run([*CLI, "run", name], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "\x1b" not in result.stderr and "\\x1b[31m" in result.stderr
    assert len(result.stderr) < 3000 and result.stderr.count("\n") == 1


def test_version_is_the_installed_distributions() -> None:
    from importlib.metadata import version

    result = subprocess.run([*CLI, "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout == f"chaos-harness {version('chaos-harness')}\n", result
