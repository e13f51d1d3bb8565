"""The scheduled-check templates say what the README says: nightly, faithful profile, pruned, failing loudly."""

from __future__ import annotations

from pathlib import Path

import yaml

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def test_cron_line_runs_the_faithful_suite_nightly_and_prunes() -> None:
    lines = [line for line in (TEMPLATES / "chaos-harness.cron").read_text().splitlines()
             if line.strip() and not line.startswith("#") and "=" not in line.split()[0]]
    assert len(lines) == 1
    fields = lines[0].split()
    minute, hour, dom, month, dow = fields[:5]
    assert minute.isdigit() and hour.isdigit() and (dom, month, dow) == ("*", "*", "*")
    assert "make run PROFILE=faithful KEEP_RUNS=" in lines[0]


def test_ci_templates_are_scheduled_keep_reports_and_run_faithful() -> None:
    github = yaml.safe_load((TEMPLATES / "github-scheduled-resilience.yml").read_text())
    triggers = github[True] if True in github else github["on"]  # YAML 1.1 reads `on` as a boolean
    assert triggers["schedule"][0]["cron"]
    steps = github["jobs"]["resilience"]["steps"]
    assert any("make run PROFILE=faithful" in s.get("run", "") for s in steps)
    assert any(s.get("uses", "").startswith("actions/upload-artifact") and s["with"]["path"] == "reports/"
               for s in steps)
    gitlab = yaml.safe_load((TEMPLATES / "gitlab-scheduled-resilience.yml").read_text())["scheduled-resilience"]
    assert "schedule" in gitlab["rules"][0]["if"] and "make run PROFILE=faithful" in gitlab["script"][0]


def test_the_github_template_publishes_what_it_claims(tmp_path: Path) -> None:
    """Its comment says it publishes the JUnit results and a summary: the step that picks the newest run
    really produces both (run here on a reports/ holding an older and a newer run), and the reporter reads it."""
    import shutil
    import subprocess

    steps = yaml.safe_load((TEMPLATES / "github-scheduled-resilience.yml").read_text())["jobs"]["resilience"]["steps"]
    prepare = next(s for s in steps if s.get("name") == "latest run's JUnit and summary")
    reporter = next(s for s in steps if s.get("uses", "").startswith("dorny/test-reporter"))
    assert reporter["with"]["path"] == "reports/latest-junit.xml" and reporter["with"]["reporter"] == "java-junit"
    data = Path(__file__).resolve().parents[1] / "data" / "run-all"
    for run_id in ("20200101-000000", "20990101-000000"):
        shutil.copytree(data, tmp_path / "reports" / run_id)
        (tmp_path / "reports" / run_id / "junit.xml").write_text(f"<testsuite name='{run_id}'/>")
    summary = tmp_path / "summary.md"
    subprocess.run(["bash", "-euo", "pipefail", "-c", prepare["run"]], cwd=tmp_path, check=True,
                   env={"PATH": "/usr/bin:/bin", "GITHUB_STEP_SUMMARY": str(summary)})
    assert "20990101-000000" in (tmp_path / "reports" / "latest-junit.xml").read_text()
    text = summary.read_text()
    assert "| s08_kubelet_stop_mysql | pass |" in text and text.count("| pass |") == 12


def test_the_in_cluster_template_is_a_valid_run_file_and_its_commands_parse(tmp_path: Path) -> None:
    from chaos_harness.frontends import cli
    from chaos_harness.assemble.runfile import load_run_file

    template = TEMPLATES / "in-cluster-run.toml"
    run = load_run_file(template)
    assert run.targets and run.options["keep_runs"] and run.options["agent_image"]
    import shlex

    text = "\n".join(line[1:] for line in template.read_text().splitlines() if line.startswith("#   "))
    commands = [shlex.split(c, comments=True) for c in text.replace("\\\n", " ").splitlines()]
    commands = [c for c in commands if c and c[0] == "chaos-harness"]
    assert {c[2] for c in commands} == {"install", "status", "fetch", "uninstall"} and commands[2][1] == "reports"
    for words in commands:
        args = cli.build_parser().parse_args(words[1:])
        assert args.command in ("schedule", "reports") and args.name == "nightly"
