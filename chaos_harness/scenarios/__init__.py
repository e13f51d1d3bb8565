"""The built-in scenarios S1-S17. Each module: HYPOTHESIS, run(env) (workload, fault, recording) and
check(events, timing) (the verdicts, from the recorded history alone)."""
