"""The seed scenarios. Each module: HYPOTHESIS, then run(env) -> verdicts (workload, fault, checks)."""
