"""The schedule's bad input is caught before anything is applied, and every object it makes is labelled as its own."""

from __future__ import annotations

import pytest

from harness import schedule
from harness.errors import UsageError


@pytest.mark.parametrize("cron", ["0 3 * * *", "*/15 3-5 * jan-mar mon,fri", "@daily", "59 23 31 12 7", "0 0 1 */2 ?"])
def test_valid_schedules(cron: str) -> None:
    schedule.check_cron(cron)


@pytest.mark.parametrize("cron,expect", [
    ("0 3 * *", "has 5 fields"), ("60 * * * *", "minute field '60'"), ("0 24 * * *", "hour field '24'"),
    ("0 0 0 * *", "day of month field '0'"), ("0 0 * 13 *", "month field '13'"), ("* * * * 8", "day of week"),
    ("*/0 * * * *", "minute field"), ("5-1 * * * *", "minute field"), ("TZ=UTC 0 3 * * *", "--time-zone"),
    ("@sometimes", "has 5 fields"),
])
def test_invalid_schedules_name_the_field(cron: str, expect: str) -> None:
    with pytest.raises(UsageError, match=expect.replace("*", r"\*").replace("?", r"\?")):
        schedule.check_cron(cron)


def test_every_object_is_labelled_and_the_job_fails_fast_and_alone() -> None:
    spec = schedule.ScheduleSpec("nightly", "ops", "0 3 * * *", "img:1", "", 1200,
                                 avoid=(("shop", (("app", "db"),)),))
    objs = schedule.objects(spec)
    for obj in objs[1:]:  # the namespace may hold the user's own things: never deleted, so not labelled
        assert obj["metadata"]["labels"]["chaos-harness/schedule"] == "nightly", obj["kind"]
    cron = objs[-1]["spec"]
    job = cron["jobTemplate"]["spec"]
    pod = job["template"]["spec"]
    assert (cron["concurrencyPolicy"], job["backoffLimit"], job["activeDeadlineSeconds"]) == ("Forbid", 0, 1200)
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["CHAOS_HARNESS_OWN_NODE"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert "in-cluster" in pod["containers"][0]["args"]
    anti = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
    assert anti["namespaces"] == ["shop"] and anti["labelSelector"]["matchLabels"] == {"app": "db"}
    rules = objs[2]["rules"]
    assert {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]} in rules
