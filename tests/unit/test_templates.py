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
