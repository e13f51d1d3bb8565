"""The labels the harness puts on what it creates, so that it (and `cleanup`, and a user with kubectl) finds
them again."""

MANAGED_BY = {"app.kubernetes.io/managed-by": "chaos-harness"}
RUN_LABEL = "chaos-harness/run-id"  # the run that created a namespace (its agent's, its scenarios')
SCHEDULE_LABEL = "chaos-harness/schedule"  # every object a `schedule install` applied
