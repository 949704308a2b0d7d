"""The benchmark harness runs and writes valid results (no timing is asserted: timings live in benchmarks/)."""

import json

import pytest
from conftest import HALF_UNITS, ROUNDING_UNIT, half_precision_error, importorskip
from seqnet_benchmarks.report import RATIOS
from seqnet_benchmarks.run import main


def test_harness_writes_json_markdown_and_plots(tmp_path):
    importorskip("matplotlib", "the plots need matplotlib: pip install 'seqnet[plot]'")
    argv = ["--groups", "numpy", "--sizes", "S", "--cells", "rnn", "--quick", "--threads", "1", "--scaling-steps",
            "20,40", "--scaling-batches", "2,4", "--out", str(tmp_path), "--label", "smoke",
            "--repeat", "2"]  # fmt: skip
    assert main(argv) == 0
    result = json.loads((tmp_path / "smoke-run1.json").read_text())
    assert result["label"] == "smoke-run1" and json.loads((tmp_path / "smoke-run2.json").read_text())["rows"]
    summary = json.loads((tmp_path / "smoke-runs.json").read_text())  # each ratio's median over the two runs
    assert [run["label"] for run in summary["runs"]] == ["smoke-run1", "smoke-run2"]
    assert "the median of 2 runs" in (tmp_path / "smoke-runs.md").read_text()
    assert result["threads"] == 1 and result["thread_settings"]["OMP_NUM_THREADS"] == "1"
    assert result["gemm_gflops"]["numpy"] > 0
    impls = {row["impl"]: row for row in result["rows"]}
    assert set(impls) == {"seqnet-numpy", "seqnet-numpy-reference", "numpy-textbook-loop", "numpy-per-sample-loop"}
    for row in impls.values():
        assert row["forward_ms"] > 0 and row["forward_repeats"] >= 3
        assert row["max_diff"] < 1e-5  # the loops compute seqnet's function from the same weights
    assert impls["seqnet-numpy"]["train_ms"] > 0 and impls["numpy-textbook-loop"]["train_ms"] is None
    labels = {r["ratio"] for r in result["ratios"]}
    assert labels == {label for label, num, dens, _ in RATIOS if num in impls and set(dens) & set(impls)}
    assert [(r["axis"], r["steps"], r["batch"]) for r in result["scaling"]] == [
        ("steps", 20, 32), ("steps", 40, 32), ("batch", 100, 2), ("batch", 100, 4)
    ]  # fmt: skip
    assert {(r["impl"], r["hidden"]) for r in result["streaming"]} == {("seqnet-numpy", 64), ("seqnet-numpy", 256)}
    assert all(r["us_per_call"] > 0 for r in result["streaming"])
    markdown = (tmp_path / "smoke-run1.md").read_text()
    assert "| S | rnn | seqnet-numpy / textbook batched loop |" in markdown
    assert result["plots"][0] == "smoke-run1-headline.png"  # the headline first: one bar per ratio
    for name in [*result["plots"], "smoke-runs-headline.png"]:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_device_and_group_arguments_are_checked_on_the_cpu(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--device", "tpu"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["--device", "cuda", "--groups", "numpy"])
    assert (
        info.value.code == 2
        and "numpy run on the CPU only; --device cuda measures torch, paddle, jax" in capsys.readouterr().err
    )
    for argv, message in (
        (["--groups", "mxnet"], "--groups mxnet: not one of"),
        (["--compare", "no/such/run.json"], "--compare no/such/run.json: no such file"),
        (["--budget", "0"], "--budget 0.0: must be a positive number of seconds"),
        (["--repeat", "0"], "--repeat 0: must be a whole number of runs, 1 or more"),
    ):
        with pytest.raises(SystemExit):
            main(argv)
        assert message in capsys.readouterr().err


def test_seqnet_bench_passes_every_argument_to_the_harness(capsys):
    from seqnet.cli import main as cli_main

    with pytest.raises(SystemExit) as info:
        cli_main(["bench", "-h"])
    assert info.value.code == 0
    shown = capsys.readouterr().out
    assert all(option in shown for option in ("--device", "--compare", "--groups", "--threads", "--quick"))
    with pytest.raises(SystemExit):
        cli_main(["bench", "--threads", "1", "--groups", "mxnet"])
    assert "--groups mxnet: not one of" in capsys.readouterr().err


def test_cuda_without_a_gpu_says_so(tmp_path):
    importorskip("torch", "the CUDA refusal is torch's: pip install torch")
    import subprocess
    import sys

    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the refusal is for machines without one")
    done = subprocess.run([sys.executable, "-m", "seqnet_benchmarks.run", "--device", "cuda", "--groups", "torch",
                           "--quick", "--sizes", "S", "--cells", "rnn", "--out", str(tmp_path)],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2
    assert "sees no CUDA device (torch.cuda.is_available() is False)" in done.stderr


def test_compare_prints_each_ratios_change(tmp_path):
    from seqnet_benchmarks.report import compare
    from seqnet_benchmarks.report import main as report_main

    def run(label, seqnet_ms, own_ms):
        rows = [{"size": "M", "cell": "lstm", "impl": "seqnet-torch", "forward_ms": seqnet_ms, "train_ms": None},
                {"size": "M", "cell": "lstm", "impl": "torch-nn", "forward_ms": own_ms, "train_ms": None}]  # fmt: skip
        return {"label": label, "started": "now", "rows": rows,
                "streaming": [{"impl": "seqnet-torch", "hidden": 64, "us_per_call": 110.0},
                              {"impl": "torch-nn", "hidden": 64, "us_per_call": 100.0}]}  # fmt: skip

    text = compare(run("old", 10.0, 10.0), run("new", 11.0, 10.0))
    assert "seqnet-torch / torch nn layer" in text
    line = next(x for x in text.splitlines() if x.startswith("seqnet-torch / torch nn layer "))
    assert line.split()[-3:] == ["1.00", "1.10", "+10.0%"]
    assert any(x.startswith("seqnet-torch / torch nn.LSTM") and x.endswith("+0.0%") for x in text.splitlines())
    (tmp_path / "old.json").write_text(json.dumps(run("old", 10.0, 10.0)))
    (tmp_path / "new.json").write_text(json.dumps(run("new", 9.0, 10.0)))
    assert report_main(["--compare", str(tmp_path / "old.json"), str(tmp_path / "new.json")]) == 0


def test_merge_writes_runs_of_separate_frameworks_as_one(tmp_path):
    from seqnet_benchmarks.report import main as report_main

    def part(label, group, impls, seconds):
        rows = [{"size": "S", "cell": "lstm", "impl": impl, "group": group, "note": "", "forward_ms": ms,
                 "forward_iqr_ms": 0.1, "forward_repeats": 5, "train_ms": None, "train_iqr_ms": None,
                 "forward_gflops": 1.0, "fraction_of_peak": 0.5, "max_diff": 0.0, "load_after": 0.1}
                for impl, ms in impls.items()]  # fmt: skip
        return {"label": label, "quick": False, "threads": 4, "device": "cuda", "machine": {"processor": "x",
                "cpu_count": 4}, "thread_settings": {}, "versions": {}, "started": "then", "seconds": seconds,
                "load_start": 0.1, "load_end": 0.2, "gemm_gflops": {group: 100.0},
                "accelerators": {group: {"gpu": "G"}}, "rows": rows, "scaling": [], "streaming": []}  # fmt: skip

    a = part("gpu-torch", "torch", {"seqnet-torch": 2.2, "torch-nn": 2.0}, 40.0)
    b = part("gpu-jax", "jax", {"seqnet-jax": 3.0, "flax-linen": 4.0, "keras3-jax": 6.0}, 100.0)
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    assert report_main([str(tmp_path / "gpu.json"), "--merge", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 0
    merged = json.loads((tmp_path / "gpu.json").read_text())
    assert merged["label"] == "gpu" and merged["merged_from"] == ["gpu-torch", "gpu-jax"] and merged["seconds"] == 140
    assert set(merged["gemm_gflops"]) == set(merged["accelerators"]) == {"torch", "jax"}
    ratios = {r["ratio"]: r["forward"] for r in merged["ratios"]}
    assert ratios["seqnet-torch / torch nn layer"] == pytest.approx(1.1)  # 2.2 / 2.0
    assert ratios["seqnet-jax / fastest JAX peer (flax, keras)"] == pytest.approx(0.75)  # 3.0 / min(4.0, 6.0)
    assert "Written from 2 runs" in (tmp_path / "gpu.md").read_text()
    b["threads"] = 2
    (tmp_path / "b.json").write_text(json.dumps(b))
    with pytest.raises(ValueError, match="runs differ in threads"):
        report_main([str(tmp_path / "gpu.json"), "--merge", str(tmp_path / "a.json"), str(tmp_path / "b.json")])


def test_runs_summary_takes_each_ratios_median_over_runs(tmp_path):
    from seqnet_benchmarks.report import main as report_main

    def run(label, seqnet_ms, own_ms, peak, call_us, gemm):
        rows = [
            {
                "size": "M",
                "cell": "lstm",
                "impl": impl,
                "group": "torch",
                "forward_ms": ms,
                "train_ms": 2 * ms,
                "fraction_of_peak": peak,
            }
            for impl, ms in (("seqnet-torch", seqnet_ms), ("torch-nn", own_ms))
        ]
        rows.append({"size": "M", "cell": "lstm", "impl": "seqnet-numpy", "group": "numpy", "forward_ms": 50.0,
                     "train_ms": None, "fraction_of_peak": peak, "forward_gflops": 120.0})  # fmt: skip
        return {"label": label, "quick": False, "threads": 2, "device": "cpu", "started": label, "seconds": 500,
                "load_start": 1.0, "load_end": 1.5, "machine": {"processor": "x", "cpu_count": 2},
                "thread_settings": {"OMP_NUM_THREADS": "2"}, "versions": {"numpy": "2"}, "gemm_gflops": {"numpy": gemm},
                "rows": rows, "streaming": [{"impl": "seqnet-torch", "hidden": 64, "us_per_call": call_us},
                                            {"impl": "torch-nn", "hidden": 64, "us_per_call": 100.0}]}  # fmt: skip

    # seqnet-torch / torch-nn in the three runs: 1.10, 0.90, 1.02 (median 1.02, within the goal of 1.03)
    runs = [run("r1", 11.0, 10.0, 0.30, 130.0, 400.0), run("r2", 9.0, 10.0, 0.40, 105.0, 300.0),
            run("r3", 10.2, 10.0, 0.35, 108.0, 343.0)]  # fmt: skip
    paths = []
    for r in runs:
        paths.append(tmp_path / f"{r['label']}.json")
        paths[-1].write_text(json.dumps(r))
    assert report_main([str(tmp_path / "cpu-runs.json"), "--runs", *map(str, paths)]) == 0
    summary = json.loads((tmp_path / "cpu-runs.json").read_text())
    entry = next(r for r in summary["ratios"] if r["ratio"] == "seqnet-torch / torch nn layer")
    assert entry["forward"]["median"] == pytest.approx(1.02) and entry["train"]["median"] == pytest.approx(1.02)
    assert (entry["forward"]["min"], entry["forward"]["max"]) == (pytest.approx(0.9), pytest.approx(1.1))
    head = next(h for h in summary["headline"] if h["ratio"] == "seqnet-torch / torch nn layer")
    assert head["forward"]["met"] == 1  # its one size and cell, by the median over runs
    (peak,) = summary["numpy_peak"]
    assert (peak["size"], peak["cell"], peak["values"], peak["median"]) == ("M", "lstm", [0.3, 0.4, 0.35], 0.35)
    assert peak["of_best"]["median"] == pytest.approx(0.3)  # 120 GFLOP/s against the best run's 400
    call = summary["streaming"][0]
    assert call["median"] == pytest.approx(1.08) and call["max"] == pytest.approx(1.3)  # 108 / 100, 130 / 100
    text = (tmp_path / "cpu-runs.md").read_text()
    assert "the median of 3 runs" in text and "| M | lstm | seqnet-torch / torch nn layer | 1.02 (0.90-1.10)" in text
    runs[2]["versions"] = {"numpy": "3"}
    paths[2].write_text(json.dumps(runs[2]))
    with pytest.raises(ValueError, match="runs differ in versions"):
        report_main([str(tmp_path / "cpu-runs.json"), "--runs", *map(str, paths)])
    with pytest.raises(ValueError, match="at least two runs, not 1"):
        report_main([str(tmp_path / "cpu-runs.json"), "--runs", str(paths[0])])


def test_jax_half_precision_rows_run_and_match(tmp_path):
    """The bfloat16 and float16 rows a GPU run adds, exercised on the CPU: forward, training step, and outputs
    within the formats' rounding of the float32 model's."""
    importorskip("jax", "the JAX rows need jax")
    import jax
    import numpy as np
    from seqnet_benchmarks.impl_jax import half_precision
    from seqnet_benchmarks.workloads import inputs, spec_for

    import seqnet

    spec = spec_for("gru", "S")
    weights = seqnet.init_weights(spec)
    x, y = (jax.numpy.asarray(a) for a in inputs(spec, "S"))
    reference = seqnet.build(spec, "numpy", weights.astype(np.float64), "float64")
    want, _ = seqnet.predict(reference, np.asarray(x, np.float64))
    rows = half_precision(spec, weights, x, y, jax.devices("cpu")[0])
    assert [r.name for r in rows] == ["seqnet-jax-bf16", "seqnet-jax-fp16"]
    for row, dtype in zip(rows, ("bfloat16", "float16"), strict=True):
        row.forward()
        row.train_step()
        got = row.output()
        assert got.dtype == np.float32
        assert half_precision_error(got, want) <= HALF_UNITS * ROUNDING_UNIT[dtype], dtype


def _timed(impl: str, forward: float, iqr: float, train: float = 2.0, train_iqr: float = 0.1) -> dict:
    return {"size": "S", "cell": "gru", "impl": impl, "forward_ms": forward, "forward_iqr_ms": iqr,
            "train_ms": train, "train_iqr_ms": train_iqr}  # fmt: skip


def test_a_measurement_noisier_than_its_median_is_flagged_and_kept_out_of_the_headline():
    from seqnet_benchmarks.report import headline, ratios, unstable

    assert unstable(_timed("a", 1.0, 1.5), "forward") and not unstable(_timed("a", 1.0, 1.0), "forward")
    rows = [_timed("seqnet-torch", 1.1, 0.1), _timed("torch-nn", 1.0, 1.2)]  # the layer's IQR above its median
    rows += [dict(_timed("seqnet-torch", 3.0, 0.1), size="M"), dict(_timed("torch-nn", 2.0, 0.1), size="M")]
    found = [r for r in ratios(rows) if r["ratio"] == "seqnet-torch / torch nn layer"]
    assert [(r["size"], r["forward_flagged"], r["train_flagged"]) for r in found] == [("S", True, False),
                                                                                      ("M", False, False)]  # fmt: skip
    (top,) = [h for h in headline(found) if h["ratio"] == "seqnet-torch / torch nn layer"]
    assert top["forward"]["median"] == 1.5 and top["forward"]["left_out"] == 1  # M's 3.0 / 2.0 alone
    assert top["train"]["configs"] == 2 and top["train"]["left_out"] == 0


def test_the_readmes_gpu_figures_are_the_committed_runs_headline():
    import re
    from pathlib import Path

    root = Path(__file__).parent.parent
    run = json.loads((root / "benchmarks" / "results" / "gpu.json").read_text())
    medians = {h["ratio"]: h for h in run["headline"]}
    text = " ".join((root / "README.md").read_text().split())
    torch_fwd, torch_train, jax_fwd, jax_train = re.search(
        r"seqnet-torch took (\S+)x cuDNN's layer's time forward and (\S+)x per training step .*? seqnet-jax (\S+)x "
        r"and (\S+)x the fastest", text).groups()  # fmt: skip
    torch, jax = medians["seqnet-torch / torch nn layer"], medians["seqnet-jax / fastest JAX peer (flax, keras)"]
    assert [torch_fwd, torch_train] == [f"{torch[p]['median']:.2f}" for p in ("forward", "train")]
    assert [jax_fwd, jax_train] == [f"{jax[p]['median']:.2f}" for p in ("forward", "train")]


def test_the_scan_benchmark_writes_its_table_and_plot(tmp_path):
    """benchmarks/scans.py at one short length on NumPy: every row measured, the markdown's ratios and the PNG."""
    importorskip("matplotlib", "the plots need matplotlib: pip install 'seqnet[plot]'")
    importorskip("autograd", "NumPy's gradients of a registered cell need autograd: pip install 'seqnet[autograd]'")
    from seqnet_benchmarks import scans

    assert scans.main(["--out", str(tmp_path), "--steps", "8", "--groups", "numpy", "--budget", "0.2"]) == 0
    result = json.loads((tmp_path / "cpu-scans.json").read_text())
    assert {r["impl"] for r in result["rows"]} == {
        f"{m} {p}" for m in ("mingru parallel", "mingru sequential", "gru generic") for p in ("forward", "train")
    }
    assert all(r["ms"] > 0 for r in result["rows"])
    assert "| numpy | 8 |" in (tmp_path / "cpu-scans.md").read_text()
    assert (tmp_path / "cpu-scans.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_per_call_benchmark_times_the_frameworks_cells_beside_seqnet(tmp_path):
    """benchmarks/streaming.py for torch: seqnet's one-step call and model.step, nn.LSTM and nn.LSTMCell, and their
    ratios."""
    importorskip("torch", "the torch rows need torch")
    from seqnet_benchmarks import streaming

    assert streaming.main(["--groups", "torch", "--budget", "0.05", "--threads", "1", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "cpu-streaming.json").read_text())
    assert {r["impl"] for r in result["streaming"]} == {"seqnet-torch", "seqnet-torch-step", "torch-nn", "torch-cell"}
    assert {r["ratio"] for r in result["streaming_ratios"]} == {"seqnet-torch / torch nn.LSTM",
                                                                 "seqnet-torch step / torch nn.LSTMCell"}  # fmt: skip
    assert "| seqnet-torch step / torch nn.LSTMCell | 64 |" in (tmp_path / "cpu-streaming.md").read_text()


def test_the_litert_rows_time_both_paths_beside_onnxruntime(tmp_path):
    """seqnet bench --groups onnxruntime,litert: LiteRT's default path and its WHILE loops, and their ratios;
    benchmarks/device.py: file sizes and errors per quantisation, and times, in its markdown."""
    importorskip("ai_edge_litert", "the litert rows need ai-edge-litert")
    importorskip("onnxruntime", "the ratios need onnxruntime's rows")
    from seqnet_benchmarks import device

    argv = ["--groups", "onnxruntime,litert", "--sizes", "S", "--cells", "lstm", "--quick", "--threads", "1",
            "--scaling-steps", "10", "--scaling-batches", "2", "--out", str(tmp_path), "--label", "lite"]  # fmt: skip
    assert main(argv) == 0
    result = json.loads((tmp_path / "lite.json").read_text())
    assert {"seqnet-litert", "seqnet-litert-while", "seqnet-onnxruntime"} <= {r["impl"] for r in result["rows"]}
    assert all(r["max_diff"] is None or r["max_diff"] < 1e-4 for r in result["rows"])
    assert {"seqnet-litert / seqnet-onnxruntime", "seqnet-litert fused / WHILE loops"} <= {
        r["ratio"] for r in result["ratios"]
    }
    assert device.main(["--sizes", "S", "--cells", "gru", "--budget", "0.1", "--threads", "1", "--out",
                        str(tmp_path)]) == 0  # fmt: skip
    row = json.loads((tmp_path / "cpu-litert-device.json").read_text())["rows"][0]
    assert row["bytes_int8"] < row["bytes_float16"] < row["bytes_float32"]
    assert row["error_float32"] < 1e-5 < row["error_float16"] < row["error_int8"] < 5e-2
    assert "| gru | S |" in (tmp_path / "cpu-litert-device.md").read_text()
