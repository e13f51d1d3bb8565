"""Bad input, as a table: input -> exit code -> the one line -> nothing created. Printed with -s."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos_harness.frontends import cli

from kubeconfigs import KUBECONFIG



def case_dir(tmp_path: Path) -> dict[str, Path]:
    down = tmp_path / "down.kubeconfig"
    down.write_text(KUBECONFIG.format(server="https://127.0.0.1:1", context="kind-down"))  # an allowed context whose API does not answer
    foreign = tmp_path / "foreign.kubeconfig"
    foreign.write_text(KUBECONFIG.format(server="https://127.0.0.1:1", context="prod-eu"))
    broken = tmp_path / "broken.kubeconfig"
    broken.write_text("this: [is not a kubeconfig")
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    bad_journal = tmp_path / "bad-journal.json"
    bad_journal.write_text("{not json")
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    (scenarios / "broken.py").write_text('HYPOTHESIS = "x"\ndef run(env:\n')
    half = tmp_path / "half"
    half.mkdir()
    (half / "half_done.py").write_text('HYPOTHESIS = "a scenario without run()"\n')
    binary_run_file = tmp_path / "binary.toml"
    binary_run_file.write_bytes(bytes(range(256)))
    negative_keep = tmp_path / "keep.toml"
    negative_keep.write_text("keep_runs = -5\n")
    corrupt_run = tmp_path / "corrupt-run"
    corrupt_run.mkdir()
    (corrupt_run / "results.json").write_text('{"results": [')
    short_deadman = tmp_path / "deadman.toml"
    short_deadman.write_text("agent_deadman_seconds = 1\n")
    no_server = tmp_path / "no-server.kubeconfig"
    no_server.write_text(KUBECONFIG.format(server="", context="kind-nowhere"))
    schemeless = tmp_path / "schemeless.kubeconfig"
    schemeless.write_text(KUBECONFIG.format(server="127.0.0.1:1", context="kind-nowhere"))
    abort_run_file = tmp_path / "abort.toml"
    abort_run_file.write_text('scenarios = ["s01"]\nabort_command = "no-such-health-check --quiet"\n')
    negative_radius = tmp_path / "radius.toml"
    negative_radius.write_text("max_faulted_nodes = -1\n")
    return {"abort_run_file": abort_run_file, "negative_radius": negative_radius, "scenarios": scenarios, "down": down, "foreign": foreign, "broken": broken, "file": a_file, "bad_journal": bad_journal,
            "missing": tmp_path / "missing.kubeconfig", "reports": tmp_path / "reports", "half": half,
            "binary_run_file": binary_run_file, "negative_keep": negative_keep, "short_deadman": short_deadman,
            "corrupt_run": corrupt_run, "no_server": no_server, "schemeless": schemeless}


CASES = [
    ("unknown scenario", ["run", "s99"], "unknown scenario s99"),
    ("schedule fetch --to /proc/x", ["schedule", "fetch", "--to", "/proc/x"], "can never hold files"),
    ("missing kubeconfig", ["--kubeconfig", "{missing}", "run", "s01"], "cannot read kubeconfig"),
    ("malformed kubeconfig", ["--kubeconfig", "{broken}", "run", "s01"], "cannot read kubeconfig"),
    ("context not allowed", ["--kubeconfig", "{foreign}", "run", "s01"], "refusing kube context 'prod-eu'"),
    ("API down", ["--kubeconfig", "{down}", "run", "s01"], "of context kind-down did not answer"),
    ("--probe: a module that does not exist", ["--kubeconfig", "{down}", "run", "s07", "--target", "a/b", "--probe",
                                                "nosuchmod:obj"], "cannot load it (ModuleNotFoundError"),
    ("--probe: an attribute that does not exist", ["--kubeconfig", "{down}", "run", "s07", "--target", "a/b",
                                                   "--probe", "json:nosuch"], "has no attribute 'nosuch'"),
    ("--probe: no such entry point", ["--kubeconfig", "{down}", "run", "s07", "--target", "a/b", "--probe", "nosuch"],
     "no entry point of that name"),
    ("--target-nodes: not a selector", ["--kubeconfig", "{down}", "run", "s01", "--target-nodes", "!!bad=="],
     "is not a label selector"),
    ("--pushgateway: not a URL", ["--kubeconfig", "{down}", "run", "s01", "--pushgateway", "not a url"],
     "is not an http(s) URL"),
    ("--journal: a directory", ["--kubeconfig", "{down}", "--journal", "{scenarios}", "run", "s01"], "is a directory"),
    ("--journal: under a file", ["--kubeconfig", "{down}", "--journal", "{file}/j.json", "run", "s01"],
     "can never exist"),
    ("schedule fetch --to under a file", ["--kubeconfig", "{down}", "schedule", "fetch", "--to", "{file}/x"],
     "is not a writable directory"),
    ("kubeconfig: a cluster without a server", ["--kubeconfig", "{no_server}", "run", "s01"],
     "its cluster's server '' is not an https:// URL"),
    ("kubeconfig: a server without a scheme", ["--kubeconfig", "{schemeless}", "doctor"],
     "its cluster's server '127.0.0.1:1' is not an https:// URL"),
    ("API down + --timing-profile", ["--kubeconfig", "{down}", "run", "s01", "--timing-profile", "faithful"],
     "did not answer"),
    ("--report-dir under a file", ["--kubeconfig", "{down}", "run", "s01", "--report-dir", "{file}/reports"],
     "is not a writable directory"),
    ("corrupt journal", ["--journal", "{bad_journal}", "journal"], "not valid JSON"),
    ("--target without a name", ["run", "--target", "shop"], "write NAMESPACE/NAME"),
    ("--target on a scenario that deploys its own", ["run", "s02", "--target", "shop/db"], "cannot run on --target"),
    ("--probe-write without --target", ["run", "s07", "--probe-write", "echo {{key}}", "--probe-read", "cat k"],
     "needs --target"),
    ("--probe-write without --probe-read", ["run", "--target", "shop/db", "--probe-write", "echo {{key}}"],
     "go together"),
    ("--probe with --probe-write", ["run", "--target", "shop/db", "--probe", "m:o", "--probe-write", "echo {{key}}",
                                    "--probe-read", "cat k"], "exclude each other"),
    ("scenario file with a syntax error", ["--scenarios", "{scenarios}", "list"], "broken.py:2: syntax error"),
    ("--scenarios not a directory", ["--scenarios", "{file}", "list"], "not a directory"),
    ("doctor, API down", ["--kubeconfig", "{down}", "doctor"], "did not answer"),
    ("cleanup, context not allowed", ["--kubeconfig", "{foreign}", "--journal", "{bad_journal}", "cleanup"],
     "not valid JSON"),
    # Nothing is made before the context is checked and the API answers: not even the default ./reports.
    ("API down, default --report-dir", ["--kubeconfig", "{down}", "run", "s01"], "did not answer"),
    ("context refused, default --report-dir", ["--kubeconfig", "{foreign}", "run", "s01"], "refusing kube context"),
    ("API down, --report-dir not yet made", ["--kubeconfig", "{down}", "run", "s01", "--report-dir", "{reports}/a/b"],
     "did not answer"),
    ("check on a directory without results", ["check", "{scenarios}"], "holds no results.json"),
    ("check on a corrupt results.json", ["check", "{corrupt_run}"], "is not a readable results file"),
    ("a scenario file without run()", ["--scenarios", "{half}", "list"], "half_done.py: a scenario needs HYPOTHESIS"),
    ("a binary run file", ["run", "--config", "{binary_run_file}"], "cannot read it"),
    ("run file keep_runs = -5", ["run", "--config", "{negative_keep}"], "keep_runs = -5: must be at least 0"),
    ("run file agent_deadman_seconds = 1", ["run", "--config", "{short_deadman}"],
     "agent_deadman_seconds = 1: must be at least 5 seconds"),
    ("--agent-runtime-endpoint a bare path", ["--kubeconfig", "{down}", "run", "s08", "--agent-runtime-endpoint",
                                              "/run/k3s/containerd/containerd.sock"], "is not a unix socket"),
    ("--agent-runtime-endpoint tcp", ["--kubeconfig", "{down}", "run", "s08", "--agent-runtime-endpoint",
                                      "tcp://10.0.0.1:1"], "is not a unix socket"),
    ("--agent-kubelet-unit with a space", ["--kubeconfig", "{down}", "run", "s08", "--agent-kubelet-unit",
                                           "k3s agent"], "is not a service unit's name"),
    ("--agent-kubelet-unit a timer", ["--kubeconfig", "{down}", "run", "s08", "--agent-kubelet-unit",
                                      "kubelet.timer"], "is not a service unit's name"),
    ("journal under a regular file", ["--journal", "{file}/journal.json", "journal"], "can never exist"),
    ("journal under /proc", ["--journal", "/proc/chaos-journal.json", "cleanup"], "can never exist"),
    ("journal a directory", ["--journal", "{scenarios}", "journal"], "is a directory"),
    # schedule install --dry-run prints YAML the API server must accept: names and values checked first.
    *[(f"schedule install {flag} {value[:20]}", ["schedule", "install", "--schedule", "@daily", "--dry-run", "--image", "img", flag, value],
       expect) for flag, value, expect in [
        ("--name", "Nightly", "must be a DNS label"), ("--name", "a/b", "must be a DNS label"),
        ("--name", "n" * 300, "at most 52 characters"), ("--namespace", "Bad_NS", "must be a DNS label"),
        ("--time-zone", "Not/AZone", "not a time zone"), ("--reports-size", "lots", "a positive Kubernetes quantity"),
        ("--reports-size", "0Gi", "a positive Kubernetes quantity")]],
    ("schedule uninstall --name Bad", ["--kubeconfig", "{down}", "schedule", "uninstall", "--name", "Bad"],
     "must be a DNS label"),
    # The shared-cluster options: checked before connecting (the API here never answers).
    ("--run-lock with an underscore", ["--kubeconfig", "{down}", "run", "s01", "--run-lock", "my_lock"],
     "is not a Lease name"),
    ("stop --run-lock in capitals", ["--kubeconfig", "{down}", "stop", "--run-lock", "Lock"], "is not a Lease name"),
    ("--abort-when of no known form", ["--kubeconfig", "{down}", "run", "s01", "--abort-when", "curl -f x"],
     "not an abort condition"),
    ("--abort-when a command not found", ["--kubeconfig", "{down}", "run", "s01", "--abort-when",
                                          "command:no-such-health-check"], "cannot be evaluated"),
    ("--abort-when already breached", ["--kubeconfig", "{down}", "run", "s01", "--abort-when", "command:false"],
     "is already breached before the run"),
    ("--abort-when a URL nobody answers", ["--kubeconfig", "{down}", "run", "s01", "--abort-when",
                                           "http://127.0.0.1:1/healthz"], "cannot be evaluated"),
    ("--abort-when prometheus without a query", ["--kubeconfig", "{down}", "run", "s01", "--abort-when",
                                                 "prometheus:http://127.0.0.1:1"], "needs a query"),
    ("run file max_faulted_nodes = -1", ["run", "--config", "{negative_radius}"],
     "max_faulted_nodes = -1: must be at least 0"),
    ("run file abort_command not found", ["--kubeconfig", "{down}", "run", "--config", "{abort_run_file}"],
     "cannot be evaluated"),
]


@pytest.mark.parametrize("what,argv,expect", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_exit_2(what: str, argv: list[str], expect: str, tmp_path: Path, capsys,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHAOS_HARNESS_ALLOWED_CONTEXTS", raising=False)
    paths = case_dir(tmp_path)
    monkeypatch.chdir(tmp_path)  # the default --report-dir (./reports) lands here if anything makes it
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    argv = [a.format(**paths) for a in argv]
    code = cli.main(["--journal", str(tmp_path / "journal.json"), *argv])
    err = capsys.readouterr().err
    after = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    print(f"\n| {what} | exit {code} | {err.strip()} | created: {sorted(set(after) - set(before)) or 'nothing'} |")
    assert code == cli.EXIT_USAGE
    assert err.count("\n") == 1 and expect in err and "Traceback" not in err
    assert "recreate" not in err, "an unreachable API is not a profile mismatch"
    assert set(after) - set(before) <= {"journal.json.lock"}, "bad input must leave nothing behind"


def test_an_empty_chaos_harness_journal_counts_as_unset(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from chaos_harness.faults.journal import default_journal_path

    monkeypatch.setenv("CHAOS_HARNESS_JOURNAL", "")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_journal_path() == tmp_path / "chaos-harness" / "journal.json"


def test_list_into_a_closed_pipe_stops_quietly() -> None:
    """`chaos-harness list | head -1`: no BrokenPipeError traceback, ever (it raced in 3 of 7 tries)."""
    import subprocess
    import sys

    for _ in range(5):
        out = subprocess.run(f"{sys.executable} -m chaos_harness list | head -1", shell=True, capture_output=True,
                             text=True, timeout=60)
        assert out.stdout.count("\n") == 1 and "Traceback" not in out.stderr and "Error" not in out.stderr, out.stderr


@pytest.mark.parametrize("argv", [["run", "--keep-runs", "-1"], ["run", "--timing-profile", "bogus"],
                                  ["--node-access", "ssh", "run"], ["--agent-deadman-seconds", "1", "run"],
                                  ["run", "--parallel", "lots"]])
def test_bad_option_values_are_refused_by_the_parser_with_exit_2(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "non_negative" not in err and "at_least" not in err


def test_allowing_every_context_warns_then_proceeds(tmp_path: Path, capsys) -> None:
    paths = case_dir(tmp_path)
    code = cli.main(["--journal", str(tmp_path / "j.json"), "--kubeconfig", str(paths["foreign"]),
                     "--allow-context", "*", "doctor"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE  # the API at 127.0.0.1:1 does not answer
    assert "allows every kube context" in err and "of context prod-eu did not answer" in err


def test_an_api_that_accepts_and_never_answers_is_reported_in_seconds(tmp_path: Path, capsys) -> None:
    """A listener on loopback that accepts connections and never says a word."""
    import socket
    import time

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    try:
        kubeconfig = tmp_path / "silent.kubeconfig"
        kubeconfig.write_text(KUBECONFIG.format(server=f"https://127.0.0.1:{server.getsockname()[1]}",
                                                context="kind-silent"))
        started = time.monotonic()
        code = cli.main(["--journal", str(tmp_path / "j.json"), "--kubeconfig", str(kubeconfig), "doctor"])
        elapsed = time.monotonic() - started
    finally:
        server.close()
    err = capsys.readouterr().err
    print(f"\n| API accepts, never answers | exit {code} after {elapsed:.0f}s | {err.strip()} |")
    assert code == cli.EXIT_USAGE and elapsed < 30
    assert err.count("\n") == 1 and "did not answer" in err


@pytest.mark.parametrize("selector", ["!node-role.kubernetes.io/control-plane", "pool=chaos", "a==b,c!=d", "k!=",
                                      "zone in (a, b),x notin (y)", "chaos-harness.test/lane=side2", "gen>3", ""])
def test_a_valid_label_selector_passes(selector: str) -> None:
    from chaos_harness.core.selectors import selector_problem

    assert selector_problem(selector) == ""


@pytest.mark.parametrize("selector", ["!!bad==", "a=b=c", "a,,b", "x in (a", "Bad_Prefix/x=y", "a=-b", "gen>x",
                                      "k" * 64 + "=v", "k=" + "v" * 64])
def test_a_malformed_label_selector_is_named(selector: str) -> None:
    from chaos_harness.core.selectors import selector_problem

    assert selector_problem(selector)


@pytest.mark.parametrize("body,said", [
    ("import sys\nsys.exit(0)\n", "importing it called sys.exit(0)"),
    ('HYPOTHESIS = {"a set"}\ndef run(env): pass\n', "HYPOTHESIS = \"{'a set'}\" must be a non-empty string"),
    ('HYPOTHESIS = "h"\nFAULTS = 5\ndef run(env): pass\n', "FAULTS = '5' must be a tuple of fault type names"),
    ('HYPOTHESIS = "h"\nrun = 5\n', "run = '5' must be a function run(env)"),
    ('HYPOTHESIS = "h"\nTYPICAL_SECONDS = "abc"\ndef run(env): pass\n', "TYPICAL_SECONDS = 'abc' must be a positive"),
    ('HYPOTHESIS = "h"\nHOLDS = "bogus"\ndef run(env): pass\n', "HOLDS = 'bogus' must be 'pods' or 'nodes'"),
    ('HYPOTHESIS = "h"\nTARGETTABLE = True\ndef run(env): pass\n', "TARGETTABLE is not something a scenario "
                                                                  "declares; did you mean TARGETABLE?"),
])
def test_a_scenario_file_is_checked_when_it_is_loaded(tmp_path: Path, body: str, said: str) -> None:
    import subprocess
    import sys

    (tmp_path / "mine.py").write_text(body)
    result = subprocess.run([sys.executable, "-m", "chaos_harness", "list", "--scenarios", str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and said in result.stderr and result.stderr.count("\n") == 1, result.stderr


@pytest.mark.parametrize("args,said", [
    (["--run-lock", "Bad Lock", "doctor"], "is not a Lease name"),
    (["--target-nodes", "!!", "doctor"], "is not a label selector"),
    (["--agent-runtime-endpoint", "/run/x.sock", "doctor"], "is not a unix socket"),
    (["--agent-kubelet-unit", "kubelet.socket", "doctor"], "is not a service unit's name"),
    (["--journal", "/tmp", "doctor"], "is a directory"),
    (["run", "s01", "--report-dir", "/proc/x"], "can never hold files"),
    (["run", "s01", "--report-dir", "/sys/x"], "can never hold files"),
    (["run", "s01", "--target", ""], "write NAMESPACE/NAME"),
    (["run", "s01", "--target", "Shop/db"], "is not a namespace's name"),
    (["run", "s01", "--allow-target-changes"], "--allow-target-changes means nothing without --target"),
    (["run", "s01", "--probe-container", "db"], "--probe-container needs --target"),
])
def test_options_are_checked_before_anything_connects(args: list[str], said: str) -> None:
    """doctor checks what a run checks, before any connection (an unreachable kubeconfig is never reached)."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "chaos_harness", "--kubeconfig", "/nonexistent", *args],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and said in result.stderr and result.stderr.count("\n") == 1, result.stderr


def test_a_corrupt_journal_is_refused_before_the_run_takes_its_lease(tmp_path: Path) -> None:
    import subprocess
    import sys

    journal = tmp_path / "journal.json"
    journal.write_text("{not json")
    result = subprocess.run([sys.executable, "-m", "chaos_harness", "--kubeconfig", "/nonexistent", "--journal",
                             str(journal), "run", "s01", "--report-dir", str(tmp_path / "r")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "not valid JSON" in result.stderr and "kubeconfig" not in result.stderr
    assert not (tmp_path / "r").exists()
