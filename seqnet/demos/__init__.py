"""The classic RNN tasks, runnable on any backend: `seqnet demo NAME --backend B`."""
