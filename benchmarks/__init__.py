"""seqnet's benchmark harness, installed as `seqnet_benchmarks`; `seqnet bench` runs it."""
