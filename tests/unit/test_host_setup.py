"""Host set-up on a fresh machine: apt is serialized, and a failed build stage stops the others at once.

The apt tests use a fake apt-get that behaves like the real one under contention: it takes its lock without
waiting and fails with "Could not get lock" when another apt-get holds it (the cold-CI failure)."""

from __future__ import annotations

import os
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from chaos_harness.testbed.shell import BuildError, StageCancelled, require_tools, run, run_stages

REPO = Path(__file__).resolve().parents[2]
APT_LIB = REPO / "scripts" / "lib" / "apt.sh"

FAKE_APT_GET = textwrap.dedent("""\
    #!/usr/bin/env bash
    # Like apt-get: the lock is taken without waiting; a second apt-get at the same time fails at once.
    exec 8>"$FAKE_APT_DIR/lock"
    flock -n 8 || { echo "E: Could not get lock $FAKE_APT_DIR/lock. It is held by process 1 (apt-get)" >&2; exit 100; }
    echo "$$ $*" >> "$FAKE_APT_DIR/calls"
    sleep 0.4
    args=(); skip=0
    for a in "$@"; do
      if [ $skip = 1 ]; then skip=0; continue; fi
      case "$a" in -o) skip=1 ;; -*) ;; *) args+=("$a") ;; esac
    done
    if [ "${args[0]}" = install ]; then
      for p in "${args[@]:1}"; do touch "$FAKE_APT_DIR/installed-$p"; done
    fi
""")
FAKE_DPKG_QUERY = textwrap.dedent("""\
    #!/usr/bin/env bash
    pkg="${@: -1}"
    [ -e "$FAKE_APT_DIR/installed-$pkg" ] && echo "install ok installed" && exit 0
    echo "dpkg-query: no packages found matching $pkg" >&2; exit 1
""")


@pytest.fixture
def fake_apt(tmp_path: Path) -> dict[str, str]:
    for name, text in (("apt-get", FAKE_APT_GET), ("dpkg-query", FAKE_DPKG_QUERY)):
        (tmp_path / name).write_text(text)
        (tmp_path / name).chmod(0o755)
    return {**os.environ, "FAKE_APT_DIR": str(tmp_path),
            "CHAOS_HARNESS_APT_GET": str(tmp_path / "apt-get"),
            "CHAOS_HARNESS_DPKG_QUERY": str(tmp_path / "dpkg-query"),
            "CHAOS_HARNESS_APT_LOCK": str(tmp_path / "chaos-harness-apt.lock"),
            "CHAOS_HARNESS_APT_LOG": str(tmp_path / "apt.log")}


def start_install(env: dict[str, str], *packages: str) -> subprocess.Popen:
    return subprocess.Popen(["bash", "-c", f'. "{APT_LIB}" && apt_install "$@"', "stage", *packages], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_the_fake_apt_fails_like_apt_when_two_run_at_once(fake_apt: dict[str, str]) -> None:
    """The control: without our lock, two installs at once lose apt's lock (what broke the cold CI run)."""
    procs = [subprocess.Popen([fake_apt["CHAOS_HARNESS_APT_GET"], "install", "-y", "debootstrap"], env=fake_apt,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(), p.stderr.read()) for p in procs]
    assert sorted(code for code, _ in results) == [0, 100]
    assert any("Could not get lock" in err for _, err in results)


def test_two_stages_needing_the_same_missing_package_both_succeed(fake_apt: dict[str, str]) -> None:
    procs = [start_install(fake_apt, "debootstrap") for _ in range(2)]
    results = [(p.wait(), p.stderr.read()) for p in procs]
    assert [code for code, _ in results] == [0, 0], results
    assert Path(fake_apt["FAKE_APT_DIR"], "installed-debootstrap").exists()
    # The second caller re-checked under the lock and found it installed: one update + one install in all.
    calls = Path(fake_apt["FAKE_APT_DIR"], "calls").read_text().splitlines()
    assert len(calls) == 2, calls


def test_stages_needing_different_packages_both_succeed(fake_apt: dict[str, str]) -> None:
    procs = [start_install(fake_apt, "debootstrap"), start_install(fake_apt, "chromium", "docker.io")]
    assert [p.wait() for p in procs] == [0, 0], [p.stderr.read() for p in procs]
    for pkg in ("debootstrap", "chromium", "docker.io"):
        assert Path(fake_apt["FAKE_APT_DIR"], f"installed-{pkg}").exists()


def test_nothing_missing_calls_no_apt(fake_apt: dict[str, str]) -> None:
    Path(fake_apt["FAKE_APT_DIR"], "installed-debootstrap").touch()
    assert start_install(fake_apt, "debootstrap").wait() == 0
    assert not Path(fake_apt["FAKE_APT_DIR"], "calls").exists()


def test_a_failed_install_is_one_line_and_non_zero(fake_apt: dict[str, str], tmp_path: Path) -> None:
    failing = tmp_path / "apt-get-fails"
    failing.write_text("#!/bin/sh\necho 'E: Unable to locate package nosuchpkg' >&2\nexit 100\n")
    failing.chmod(0o755)
    proc = start_install({**fake_apt, "CHAOS_HARNESS_APT_GET": str(failing)}, "nosuchpkg")
    assert proc.wait() == 1
    err = proc.stderr.read()
    assert "apt-get install nosuchpkg failed" in err and "Unable to locate package" in err
    assert "Traceback" not in err


def test_a_failed_stage_cancels_the_others_at_once(tmp_path: Path) -> None:
    marker = tmp_path / "slow-finished"
    started = time.monotonic()
    with pytest.raises(BuildError) as raised:
        run_stages({
            "slow": lambda: run(["bash", "-c", f"sleep 30; touch {marker}"]),
            "bad": lambda: run(["bash", "-c", "sleep 0.3; echo 'debootstrap: command not found' >&2; exit 127"]),
        }, tmp_path / "logs")
    elapsed = time.monotonic() - started
    message = str(raised.value)
    assert elapsed < 10, f"the failure surfaced after {elapsed:.1f}s: the slow stage was waited for"
    assert "build stage 'bad' failed" in message
    assert "debootstrap: command not found" in message  # the tail of the failed stage's log
    assert "cancelled: slow" in message
    assert not isinstance(raised.value, StageCancelled)
    time.sleep(0.5)
    assert not marker.exists()


def test_stages_that_succeed_return_their_results_by_name(tmp_path: Path) -> None:
    results = run_stages({"a": lambda: run(["echo", "a"], capture=True).strip(), "b": lambda: 2}, tmp_path / "logs")
    assert results == {"a": "a", "b": 2}


def test_streamed_output_of_a_stage_goes_to_its_log(tmp_path: Path) -> None:
    run_stages({"go binaries": lambda: run(["bash", "-c", "echo compiling; echo warn >&2"])}, tmp_path / "logs")
    assert (tmp_path / "logs" / "go-binaries.log").read_text().split() == ["compiling", "warn"]


def test_missing_host_tools_are_named_with_their_fix() -> None:
    with pytest.raises(BuildError, match=r"no-such-tool-xyz \(make host\)"):
        require_tools({"bash": "always there", "no-such-tool-xyz": "make host"})
