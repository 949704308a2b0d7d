"""The benchmark harness runs and writes valid results (no timing is asserted: timings live in benchmarks/)."""

import json

import pytest
from seqnet_benchmarks.report import RATIOS
from seqnet_benchmarks.run import main


def test_harness_writes_json_markdown_and_plots(tmp_path):
    pytest.importorskip("matplotlib", reason="the plots need matplotlib: pip install 'seqnet[plot]'")
    argv = ["--groups", "numpy", "--sizes", "S", "--cells", "rnn", "--quick", "--threads", "1", "--scaling-steps",
            "20,40", "--scaling-batches", "2,4", "--out", str(tmp_path), "--label", "smoke"]  # fmt: skip
    assert main(argv) == 0
    result = json.loads((tmp_path / "smoke.json").read_text())
    assert result["threads"] == 1 and result["thread_settings"]["OMP_NUM_THREADS"] == "1"
    assert result["gemm_gflops"]["numpy"] > 0
    impls = {row["impl"]: row for row in result["rows"]}
    assert set(impls) == {"seqnet-numpy", "numpy-textbook-loop", "numpy-per-sample-loop"}
    for row in impls.values():
        assert row["forward_ms"] > 0 and row["forward_repeats"] >= 3
        assert row["max_diff"] < 1e-5  # the loops compute seqnet's function from the same weights
    assert impls["seqnet-numpy"]["train_ms"] > 0 and impls["numpy-textbook-loop"]["train_ms"] is None
    labels = {r["ratio"] for r in result["ratios"]}
    assert labels == {label for label, num, _, _ in RATIOS if num in impls}
    assert [(r["axis"], r["steps"], r["batch"]) for r in result["scaling"]] == [
        ("steps", 20, 32), ("steps", 40, 32), ("batch", 100, 2), ("batch", 100, 4)
    ]  # fmt: skip
    markdown = (tmp_path / "smoke.md").read_text()
    assert "| S | rnn | seqnet-numpy / textbook batched loop |" in markdown
    for name in result["plots"]:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
