"""chaos-harness: chaos tests that prove, on a live Kubernetes cluster, what StatefulSets promise.

The pipeline, one package per stage (docs/ARCHITECTURE.md): frontends (CLI, pytest plugin, in-cluster schedule)
parse; assemble validates, connects and builds a run; scenario runs hypothesis + workload + fault; faults, nodes,
workload and record act on the cluster and write one history; judge turns the history into verdicts; report
writes them out. core holds what every stage shares."""
