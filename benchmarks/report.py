"""Writes a harness run as JSON, a markdown table with the headline ratios, and PNG plots.

Requirements: numpy; matplotlib for the plots (skipped with a note if missing).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

RATIOS = [
    # (label, numerator impl, denominator impls (the fastest of them), goal: ratio at most)
    ("seqnet-torch / torch nn layer", "seqnet-torch", ("torch-nn",), 1.03),
    ("seqnet-paddle / paddle nn layer", "seqnet-paddle", ("paddle-nn",), 1.03),
    ("torch generic path / fused", "seqnet-torch-generic", ("seqnet-torch",), 1.5),
    ("paddle generic path / fused", "seqnet-paddle-generic", ("seqnet-paddle",), 1.5),
    ("torch LSTM as a user cell / generic path", "seqnet-torch-cell", ("seqnet-torch-generic",), 1.3),
    ("paddle LSTM as a user cell / generic path", "seqnet-paddle-cell", ("seqnet-paddle-generic",), 1.3),
    ("jax LSTM as a user cell / seqnet-jax", "seqnet-jax-cell", ("seqnet-jax",), 1.3),
    ("seqnet-jax / fastest JAX peer (flax, keras)", "seqnet-jax", ("flax-linen", "keras3-jax"), 1.0),
    ("seqnet-jax / hand-written lax.scan", "seqnet-jax", ("jax-hand-scan",), None),
    ("seqnet-numpy / textbook batched loop", "seqnet-numpy", ("numpy-textbook-loop",), 1.0),
    ("seqnet-numpy (fused kernels) / its reference cells", "seqnet-numpy", ("seqnet-numpy-reference",), None),
    ("per-sample loop / seqnet-numpy", "numpy-per-sample-loop", ("seqnet-numpy",), None),
    ("seqnet-numpy / torch nn layer", "seqnet-numpy", ("torch-nn",), None),
    ("seqnet-onnxruntime / seqnet-numpy", "seqnet-onnxruntime", ("seqnet-numpy",), None),
    ("seqnet-onnxruntime / torch nn layer", "seqnet-onnxruntime", ("torch-nn",), None),
    ("seqnet-litert / seqnet-onnxruntime", "seqnet-litert", ("seqnet-onnxruntime",), None),
    ("seqnet-litert / torch nn layer", "seqnet-litert", ("torch-nn",), None),
    ("seqnet-litert fused / WHILE loops", "seqnet-litert", ("seqnet-litert-while",), None),
    ("seqnet-torch bfloat16 / nn layer bfloat16", "seqnet-torch-bf16", ("torch-nn-bf16",), 1.03),
    ("seqnet-torch float16 / nn layer float16", "seqnet-torch-fp16", ("torch-nn-fp16",), 1.03),
    ("torch nn layer bfloat16 / float32", "torch-nn-bf16", ("torch-nn",), None),
    ("seqnet-jax bfloat16 / float32", "seqnet-jax-bf16", ("seqnet-jax",), None),
    ("seqnet-jax float16 / float32", "seqnet-jax-fp16", ("seqnet-jax",), None),
]
# one step, batch 1, state carried: (label, seqnet's impl, the framework's own, goal)
STREAMING = [
    ("seqnet-torch / torch nn.LSTM", "seqnet-torch", "torch-nn", 1.10),
    ("seqnet-torch step / torch nn.LSTMCell", "seqnet-torch-step", "torch-cell", 1.10),
    ("seqnet-paddle / paddle.nn.LSTM", "seqnet-paddle", "paddle-nn", 1.10),
    ("seqnet-paddle step / paddle.nn.LSTMCell", "seqnet-paddle-step", "paddle-cell", 1.10),
    ("seqnet-jax / jitted hand-written scan", "seqnet-jax", "jax-hand-scan", None),
]
GOALS = {label: goal for label, *_, goal in RATIOS + STREAMING}  # each ratio's goal (time at most), or None


def unstable(row: dict, phase: str) -> bool:
    """Whether a measurement's spread exceeds its median (IQR > median): too noisy to stand in a headline until
    it is measured again. Such a measurement is flagged in the report and the ratios built on it are left out
    of every headline (they stay in the per-size table, marked)."""
    median, iqr = row.get(f"{phase}_ms"), row.get(f"{phase}_iqr_ms")
    return median is not None and iqr is not None and iqr > median


def ratios(rows: list[dict]) -> list[dict]:
    """Each ratio at each size and cell, forward and training step; `<phase>_flagged` where a measurement it
    is built on is `unstable`."""
    by_key: dict[tuple, dict[str, dict]] = {}
    for row in rows:
        by_key.setdefault((row["size"], row["cell"]), {})[row["impl"]] = row
    out = []
    for (size, cell), impls in by_key.items():
        for label, num, dens, goal in RATIOS:
            present = [impls[d] for d in dens if d in impls]
            if num not in impls or not present:
                continue
            entry = {"size": size, "cell": cell, "ratio": label, "goal": goal}
            for phase in ("forward", "train"):
                top = impls[num].get(f"{phase}_ms")
                bottoms = [p for p in present if p.get(f"{phase}_ms")]
                entry[phase] = top / min(p[f"{phase}_ms"] for p in bottoms) if top and bottoms else None
                entry[f"{phase}_flagged"] = any(unstable(r, phase) for r in [impls[num], *bottoms])
            out.append(entry)
    return out


def headline(ratio_rows: list[dict]) -> list[dict]:
    """Each ratio's median and range over every size and cell, forward and training step, leaving out the
    ratios built on an `unstable` measurement (counted as "left_out")."""
    out = []
    for label, _, _, goal in RATIOS:
        entry: dict[str, Any] = {"ratio": label, "goal": goal}
        for phase in ("forward", "train"):
            found = [r for r in ratio_rows if r["ratio"] == label and r[phase] is not None]
            values = sorted(r[phase] for r in found if not r.get(f"{phase}_flagged"))
            if values:
                entry[phase] = {"median": float(np.median(values)), "min": values[0], "max": values[-1],
                                "configs": len(values), "left_out": len(found) - len(values)}  # fmt: skip
        if len(entry) > 2:
            out.append(entry)
    return out


def streaming_ratios(rows: list[dict]) -> list[dict]:
    """seqnet's per-call time over the framework's own layer's, for each hidden size."""
    out = []
    for label, mine, theirs, goal in STREAMING:
        for hidden in sorted({r["hidden"] for r in rows}):
            found = {r["impl"]: r["us_per_call"] for r in rows if r["hidden"] == hidden}
            if mine in found and theirs in found:
                out.append({"ratio": label, "hidden": hidden, "value": found[mine] / found[theirs], "goal": goal})
    return out


def _ratio_values(result: dict[str, Any]) -> dict[tuple[str, str, str, str], float]:
    """Each ratio of a run, forward and training step, by (ratio, size, cell, phase), leaving out those built on
    an `unstable` measurement."""
    table = {}
    for r in ratios(result["rows"]):  # derived afresh: a run written before the flags existed gets them too
        for phase in ("forward", "train"):
            if r.get(phase) is not None and not r.get(f"{phase}_flagged"):
                table[(r["ratio"], r["size"], r["cell"], phase)] = r[phase]
    return table


def _check_alike(runs: list[dict[str, Any]], keys: tuple[str, ...], what: str) -> None:
    """A ValueError naming the first of `keys` in which a run differs from the first run."""
    first = runs[0]
    for run in runs[1:]:
        for key in keys:
            if run.get(key) != first.get(key):
                raise ValueError(f"runs differ in {key}: {first.get(key)!r} and {run.get(key)!r}; {what}")


def compare(old: dict[str, Any], new: dict[str, Any]) -> str:
    """Each ratio of `new` beside the same ratio in `old` (a committed run), and its change, as a table."""

    def keyed(result: dict) -> dict[tuple, float]:
        table: dict[tuple, float] = dict(_ratio_values(result))
        for r in result.get("streaming_ratios") or streaming_ratios(result.get("streaming", [])):
            table[(r["ratio"], "1 step", f"H {r['hidden']}", "call")] = r["value"]
        return table

    before, after = keyed(old), keyed(new)
    title = (f"ratios of {new.get('label', 'this run')} ({new.get('started', '')}) against "
             f"{old.get('label', 'the old run')} ({old.get('started', '')}); below 1 is faster:")  # fmt: skip
    header = f"{'ratio':52s} {'size':6s} {'cell':6s} {'phase':7s} {'old':>6s} {'new':>6s} {'change':>8s}"
    lines = [title, "", header]
    for key in sorted(after, key=lambda k: (k[0], k[1], k[2], k[3])):
        label, size, cell, phase = key
        if key in before:
            change = (after[key] / before[key] - 1) * 100
            lines.append(
                f"{label:52s} {size:6s} {cell:6s} {phase:7s} {before[key]:6.2f} {after[key]:6.2f} {change:+7.1f}%"
            )
        else:
            lines.append(f"{label:52s} {size:6s} {cell:6s} {phase:7s} {'-':>6s} {after[key]:6.2f} {'new':>8s}")
    gone = sorted(set(before) - set(after))
    if gone:
        lines.append(f"({len(gone)} ratios of the old run are not in this one)")
    return "\n".join(lines)


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _measurement(row: dict, phase: str) -> str:
    """'median (IQR, n)' of one phase of a row, ! where `unstable`; '-' where it was not measured."""
    if row.get(f"{phase}_ms") is None:
        return "-"
    rounds = row.get(f"{phase}_repeats", "?")
    mark = " !" if unstable(row, phase) else ""
    return f"{row[f'{phase}_ms']:.2f} ({row[f'{phase}_iqr_ms']:.2f}, {rounds}){mark}"


def _goal(goal: float | None) -> str:
    """A goal column's cell: '-' where a ratio has none."""
    return "-" if goal is None else f"<= {goal}"


def markdown(result: dict[str, Any]) -> str:
    """The run as markdown; `result` carries "ratios" and "headline" (write_report derives them once)."""
    lines = [
        f"# seqnet benchmark: {result['label']}{' (quick)' if result['quick'] else ''}",
        "",
        f"Machine: {result['machine'].get('cpu', result['machine']['processor'])}, "
        f"{result['machine']['cpu_count']} cores; {result['threads']} threads for every framework "
        f"({', '.join(f'{k}={v}' for k, v in result['thread_settings'].items() if v)}). "
        f"Started {result['started']}, {result['seconds']:.0f} s; load average {result['load_start']:.2f} at the "
        f"start, {result['load_end']:.2f} at the end.",
        *(
            [
                f"Written from {len(result['merged_from'])} runs on this machine, one after another, one per framework "
                f"group: {', '.join(result['merged_from'])} (`python -m seqnet_benchmarks.report --merge`)."
            ]
            if result.get("merged_from")
            else []
        ),
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in result["versions"].items() if v) + ".",
        "",
        f"Device: {result.get('device', 'cpu')}. float32 unless a row says otherwise. Each figure is the median "
        "over repeated runs after warm-up (IQR beside it), implementations of one framework timed interleaved. "
        'FLOP/s count the matrix products (2·B·T·(I+H)·G·H per layer and direction); "of peak" is against the '
        "framework's own best float32 matrix product of the run (1024 x 1024 on the CPU, 8192 x 8192 on a GPU): "
        + ", ".join(f"{g} {v:.0f} GFLOP/s" for g, v in result["gemm_gflops"].items())
        + ".",
        "",
        *[
            f"{group} ran on: " + ", ".join(f"{k} {v}" for k, v in facts.items()) + "."
            for group, facts in result.get("accelerators", {}).items()
        ],
        *([""] if result.get("accelerators") else []),
        "## Headline: each ratio's median (and range) over every size and cell",
        "",
        "Time of the first over the second; below 1 is faster. A ratio built on a measurement whose IQR exceeds "
        "its median (flagged ! below) is left out of this table until it is measured again.",
        "",
        "| ratio | forward | train step | goal |",
        "|---|---|---|---|",
    ]
    for h in result["headline"]:
        fwd, train = (f"{h[p]['median']:.2f} ({h[p]['min']:.2f}-{h[p]['max']:.2f})"
                      + (f", {h[p]['left_out']} left out" if h[p].get("left_out") else "") if p in h else "-"
                      for p in ("forward", "train"))  # fmt: skip
        goal = _goal(h["goal"])
        lines.append(f"| {h['ratio']} | {fwd} | {train} | {goal} |")
    numpy_peak = [
        r["fraction_of_peak"]
        for r in result["rows"]
        if r["impl"] == "seqnet-numpy" and r["size"] in ("M", "L") and r["cell"] in ("lstm", "gru")
    ]
    if numpy_peak:
        reach = f"{min(numpy_peak):.0%}-{max(numpy_peak):.0%}"
        lines += ["", f"seqnet-numpy's forward at sizes M and L (lstm, gru) reaches {reach} of NumPy's best float32 "
                      "matrix product of the run (goal 60%)."]  # fmt: skip
    numpy_train = [h for h in result["headline"] if h["ratio"] == "seqnet-numpy / torch nn layer" and "train" in h]
    if numpy_train:
        t = numpy_train[0]["train"]
        lines += ["", f"seqnet-numpy's training step takes {t['min']:.2f}-{t['max']:.2f}x torch's layer's (median "
                      f"{t['median']:.2f}; goal: at most 1.0)."]  # fmt: skip
    lines += [
        "",
        "## Ratios by size and cell",
        "",
        "| size | cell | ratio | forward | train step | goal |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["ratios"]:
        goal = _goal(r["goal"])
        fwd, train = (_fmt(r[p]) + (" !" if r.get(f"{p}_flagged") else "") for p in ("forward", "train"))
        lines.append(f"| {r['size']} | {r['cell']} | {r['ratio']} | {fwd} | {train} | {goal} |")
    lines += [
        "",
        "## Every measurement",
        "",
        "Each time: median (IQR, rounds); ! marks an IQR above the median. Rounds of training steps were not "
        "recorded before 2026-12-03 (shown as ?).",
        "",
        "| size | cell | implementation | forward ms (IQR, rounds) | train step ms (IQR, rounds) | forward GFLOP/s | of peak | max diff vs seqnet | load after |",  # noqa: E501
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        diff = "-" if row["max_diff"] is None else f"{row['max_diff']:.1e}"
        fwd, train = (_measurement(row, phase) for phase in ("forward", "train"))
        lines.append(
            f"| {row['size']} | {row['cell']} | {row['impl']} | {fwd} | {train} | {row['forward_gflops']:.1f} "
            f"| {row['fraction_of_peak']:.0%} | {diff} | {row['load_after']:.2f} |"
        )
    if result.get("streaming"):
        lines += [
            "",
            "## Per-call overhead: one step, batch 1, state carried (LSTM, input 32)",
            "",
            "| comparison | hidden | ratio | goal |",
            "|---|---|---|---|",
        ]
        for r in result["streaming_ratios"]:
            goal = _goal(r["goal"])
            lines.append(f"| {r['ratio']} | {r['hidden']} | {r['value']:.2f} | {goal} |")
        lines += ["", "| implementation | hidden | µs per call (IQR) |", "|---|---|---|"]
        for row in result["streaming"]:
            lines.append(f"| {row['impl']} | {row['hidden']} | {row['us_per_call']:.1f} ({row['iqr_us']:.1f}) |")
    lines += [
        "",
        "## Scaling (seqnet backends, LSTM I 32 H 64, forward)",
        "",
        "| backend | B | T | forward ms | µs per step | peak MiB (NumPy, tracemalloc) |",
        "|---|---|---|---|---|---|",
    ]
    for row in result["scaling"]:
        lines.append(
            f"| {row['group']} | {row['batch']} | {row['steps']} | {row['forward_ms']:.2f} | {row['us_per_step']:.1f} "
            f"| {_fmt(row['peak_mib'], 1)} |"
        )
    return "\n".join(lines) + "\n"


def _pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend, or None where matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def _where(result: dict[str, Any]) -> str:
    """The device a run measured: the GPU's name on a GPU run, else the CPU's."""
    gpus = {a["gpu"] for a in (result.get("accelerators") or {}).values() if a.get("gpu")}
    return ", ".join(sorted(gpus)) or result["machine"].get("cpu", result["device"])


def headline_plot(headline: list[dict], title: str, path: Path) -> bool:
    """The headline at a glance: one row per ratio, a bar from 1 (equal time) to its median over sizes and cells
    (forward and training step side by side; left of 1 is faster), a whisker for its range and a black tick at
    its goal; log scale.
    False where matplotlib is missing."""
    plt = _pyplot()
    if plt is None:
        return False
    shown = [h for h in headline if "forward" in h or "train" in h]
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(shown) + 1.6))
    for offset, phase, color in ((-0.2, "forward", "tab:blue"), (0.2, "train", "tab:orange")):
        rows = [(i, h[phase]) for i, h in enumerate(shown) if phase in h]
        medians = np.array([s["median"] for _, s in rows])
        spread = np.array([[m - s["min"] for m, (_, s) in zip(medians, rows, strict=True)],
                           [s["max"] - m for m, (_, s) in zip(medians, rows, strict=True)]])  # fmt: skip
        ax.barh([i + offset for i, _ in rows], medians - 1, height=0.38, left=1, color=color,
                label="training step" if phase == "train" else "forward", xerr=spread, capsize=2,
                error_kw={"lw": 0.8})  # fmt: skip
    goals = [(i, h["goal"]) for i, h in enumerate(shown) if h.get("goal") is not None]
    ax.scatter([g for _, g in goals], [i for i, _ in goals], marker="|", s=500, color="black", zorder=3,
               label="goal (at most)")  # fmt: skip
    ax.axvline(1.0, color="grey", lw=0.8, ls=":")
    ax.set_xscale("log")
    ticks = [t for t in (0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 50) if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_yticks(range(len(shown)), [h["ratio"] for h in shown], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("time of the first over the second: median over sizes and cells, whisker = range (log)")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def plots(result: dict[str, Any], out: Path) -> list[str]:
    plt = _pyplot()
    if plt is None:
        return []
    label = result["label"]
    names = []
    title = f"{label}: {_where(result)}, {result['threads']} threads, one run"
    if headline_plot(result["headline"], title, out / f"{label}-headline.png"):
        names.append(f"{label}-headline.png")
    rows = result["rows"]
    configs = sorted({(r["size"], r["cell"]) for r in rows}, key=lambda k: ("SML".index(k[0]), k[1]))
    impls = list(dict.fromkeys(r["impl"] for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(14, 0.35 * len(impls) * len(configs) / 2 + 3))
    for ax, phase in zip(axes, ("forward", "train"), strict=True):
        labels, values = [], []
        for size, cell in configs:
            for impl in impls:
                row = next((r for r in rows if (r["size"], r["cell"], r["impl"]) == (size, cell, impl)), None)
                if row and row.get(f"{phase}_ms"):
                    labels.append(f"{size} {cell} {impl}")
                    values.append(row[f"{phase}_ms"])
        if not values:  # e.g. no training step measured
            ax.set_axis_off()
            continue
        ax.barh(range(len(values)), values, color=[_color(lbl.split()[-1]) for lbl in labels])
        ax.set_yticks(range(len(values)), labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel(f"{phase} time, ms (log)")
        ax.set_title(f"{phase} ({label}, {result['threads']} threads)")
    fig.tight_layout()
    names.append(f"{label}-time.png")
    fig.savefig(out / names[-1], dpi=100)
    plt.close(fig)
    if not result["scaling"]:
        return names
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for group in dict.fromkeys(r["group"] for r in result["scaling"]):
        for ax, axis in ((a, "steps"), (b, "batch")):
            pts = [r for r in result["scaling"] if r["group"] == group and r["axis"] == axis]
            ax.loglog([p[axis] for p in pts], [p["forward_ms"] for p in pts], "o-", label=f"seqnet-{group}")
    a.set(xlabel="T (steps), batch 32", ylabel="forward ms", title="time against T: linear")
    b.set(xlabel="batch, T 100", ylabel="forward ms", title="time against batch")
    a.legend()
    fig.tight_layout()
    names.append(f"{label}-scaling.png")
    fig.savefig(out / names[-1], dpi=100)
    plt.close(fig)
    return names


def _color(impl: str) -> str:
    for key, color in (("numpy", "tab:blue"), ("torch", "tab:red"), ("paddle", "tab:green"), ("jax", "tab:purple"),
                       ("flax", "tab:pink"), ("keras", "tab:brown")):  # fmt: skip
        if key in impl:
            return color
    return "tab:gray"


def merge(parts: list[dict[str, Any]], label: str) -> dict[str, Any]:
    """One run from runs of separate frameworks on the same machine (e.g. `--groups torch`, then `--groups jax`
    in one device lease, so that each one's results survive the other's failure): their rows, scaling and
    per-call rows, GEMM peaks and accelerators together; machine and settings from the first."""
    if not parts:
        raise ValueError("merge needs at least one run")
    first = parts[0]
    _check_alike(parts, ("machine", "device", "threads", "quick"), "merge runs of one machine and one setting only")
    merged = {key: value for key, value in first.items() if key not in ("ratios", "headline", "streaming_ratios")}
    merged.update(label=label, merged_from=[part["label"] for part in parts], load_end=parts[-1]["load_end"],
                  seconds=sum(part["seconds"] for part in parts))  # fmt: skip
    for key in ("gemm_gflops", "accelerators"):
        merged[key] = {group: value for part in parts for group, value in part.get(key, {}).items()}
    for key in ("rows", "scaling", "streaming"):
        merged[key] = [row for part in parts for row in part.get(key, [])]
    return merged


def _spread(values: list[float]) -> dict[str, Any]:
    return {"median": float(np.median(values)), "min": min(values), "max": max(values), "values": values}


def over_runs(runs: list[dict[str, Any]], label: str) -> dict[str, Any]:
    """Each ratio's median and range over whole runs of the harness on one machine, one after another. Each
    run's ratio is interleaved within that run (its implementations alternate); between runs a shared machine's
    speed moves, so the median over runs says what one run cannot: whether a ratio near a goal stays there."""
    if len(runs) < 2:
        raise ValueError(f"--runs takes at least two runs, not {len(runs)}")
    first = runs[0]
    _check_alike(runs, ("machine", "device", "threads", "quick", "versions"),
                 "summarise runs of one machine, one setting and the same versions only")  # fmt: skip
    found: dict[tuple, list[float]] = {}
    left_out: dict[str, int] = {}  # per ratio: values of single runs built on an unstable measurement
    for run in runs:
        for key, value in _ratio_values(run).items():
            found.setdefault(key, []).append(value)
        for r in ratios(run["rows"]):
            for phase in ("forward", "train"):
                if r[phase] is not None and r[f"{phase}_flagged"]:
                    left_out[r["ratio"]] = left_out.get(r["ratio"], 0) + 1
    order = [name for name, *_ in RATIOS]
    cells = ("rnn", "lstm", "gru")
    configs = sorted({(k[0], k[1], k[2]) for k in found},
                     key=lambda k: (order.index(k[0]), "SML".index(k[1]), cells.index(k[2])))  # fmt: skip
    by_config = []
    for ratio, size, cell in configs:
        entry: dict[str, Any] = {"ratio": ratio, "size": size, "cell": cell, "goal": GOALS[ratio]}
        for phase in ("forward", "train"):
            values = found.get((ratio, size, cell, phase))
            if values:
                entry[phase] = _spread(values)
        by_config.append(entry)
    summary = []
    for ratio in dict.fromkeys(e["ratio"] for e in by_config):
        entry = {"ratio": ratio, "goal": GOALS[ratio]}
        for phase in ("forward", "train"):
            medians = [e[phase]["median"] for e in by_config if e["ratio"] == ratio and phase in e]
            if medians:
                entry[phase] = _spread(medians)
                goal = GOALS[ratio]
                entry[phase]["met"] = None if goal is None else sum(m <= goal for m in medians)
        summary.append(entry)
    # the NumPy forward against each run's own best product, and against the best product of all the runs (the
    # 1024 x 1024 product itself moves between runs: a slow one makes a fraction look higher)
    products = [run["gemm_gflops"]["numpy"] for run in runs if "numpy" in run.get("gemm_gflops", {})]
    best = max(products) if products else None
    peak: dict[tuple, list[float]] = {}
    of_best: dict[tuple, list[float]] = {}
    for run in runs:
        for row in run["rows"]:
            if row["impl"] == "seqnet-numpy" and row["size"] in ("M", "L") and row["cell"] in ("lstm", "gru"):
                peak.setdefault((row["size"], row["cell"]), []).append(row["fraction_of_peak"])
                if best and row.get("forward_gflops"):
                    of_best.setdefault((row["size"], row["cell"]), []).append(row["forward_gflops"] / best)
    calls: dict[tuple, list[float]] = {}
    for run in runs:
        for r in run.get("streaming_ratios") or streaming_ratios(run.get("streaming", [])):
            calls.setdefault((r["ratio"], r["hidden"]), []).append(r["value"])
    return {
        "label": label,
        "runs": [
            {key: run.get(key) for key in ("label", "started", "seconds", "load_start", "load_end", "gemm_gflops")}
            for run in runs
        ],
        **{key: first.get(key) for key in ("machine", "device", "threads", "thread_settings", "versions")},
        "ratios": by_config,
        "headline": summary,
        "left_out": left_out,
        "numpy_best_gemm_gflops": best,
        "numpy_peak": [
            {"size": k[0], "cell": k[1], **_spread(v), "of_best": _spread(of_best[k]) if k in of_best else None}
            for k, v in sorted(peak.items(), key=lambda kv: ("SML".index(kv[0][0]), cells.index(kv[0][1])))
        ],
        "streaming": [{"ratio": k[0], "hidden": k[1], "goal": GOALS[k[0]], **_spread(v)} for k, v in calls.items()],
    }


def _range(s: dict[str, Any] | None) -> str:
    return "-" if not s else f"{s['median']:.2f} ({s['min']:.2f}-{s['max']:.2f})"


def over_runs_markdown(summary: dict[str, Any]) -> str:
    """The summary of `over_runs` as markdown."""
    n = len(summary["runs"])
    machine = summary["machine"]
    lines = [
        f"# seqnet benchmark: {summary['label']}, the median of {n} runs",
        "",
        f"Machine: {machine.get('cpu', machine['processor'])}, {machine['cpu_count']} cores; {summary['threads']} "
        f"threads for every framework ({', '.join(f'{k}={v}' for k, v in summary['thread_settings'].items() if v)}); "
        f"device {summary.get('device', 'cpu')}.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in summary["versions"].items() if v) + ".",
        "",
        f"{n} whole runs of `seqnet bench`, one after another:",
        "",
        "| run | started | seconds | load average start - end | GEMM peak GFLOP/s |",
        "|---|---|---|---|---|",
    ]
    for run in summary["runs"]:
        peaks = ", ".join(f"{g} {v:.0f}" for g, v in (run.get("gemm_gflops") or {}).items())
        lines.append(f"| {run['label']} | {run['started']} | {run['seconds']:.0f} | {run['load_start']:.2f} - "
                     f"{run['load_end']:.2f} | {peaks} |")  # fmt: skip
    lines += [
        "",
        "Each ratio is taken within one run (the implementations of a framework alternate there, as in a single "
        "run's report); a figure here is the median over the runs, the lowest and highest run beside it. Time of "
        "the first over the second; below 1 is faster.",
        "",
        "## Headline: each ratio's median over runs, then its median (and range) over every size and cell",
        "",
        "| ratio | forward | train step | goal | sizes and cells within the goal (forward, train) |",
        "|---|---|---|---|---|",
    ]
    for h in summary["headline"]:
        phases = [p for p in ("forward", "train") if p in h and h[p]["met"] is not None]
        met = " / ".join(f"{h[p]['met']} of {len(h[p]['values'])}" for p in phases)
        lines.append(f"| {h['ratio']} | {_range(h.get('forward'))} | {_range(h.get('train'))} | {_goal(h['goal'])} "
                     f"| {met or '-'} |")  # fmt: skip
    if summary.get("left_out"):
        counted = "; ".join(f"{ratio}: {n}" for ratio, n in summary["left_out"].items())
        lines += ["", "Left out of every figure here: a single run's ratio built on a measurement whose IQR exceeds "
                      f"its median (re-measure before quoting it). Values left out, by ratio: {counted}."]  # fmt: skip
    if summary["numpy_peak"]:
        best = summary.get("numpy_best_gemm_gflops")
        lines += ["", "## seqnet-numpy's forward as a fraction of NumPy's best float32 matrix product (goal 60%)", "",
                  "Against each run's own best 1024 x 1024 product (the goal's measure), and against the best of all "
                  f"the runs ({best:.0f} GFLOP/s): the product itself moved between runs (the table above).", "",
                  "| size | cell | median over runs | each run | median against the best of all runs |",
                  "|---|---|---|---|---|"]  # fmt: skip
        for r in summary["numpy_peak"]:
            each = ", ".join(f"{v:.0%}" for v in r["values"])
            against = "-" if not r.get("of_best") else f"{r['of_best']['median']:.0%}"
            lines.append(f"| {r['size']} | {r['cell']} | {r['median']:.0%} | {each} | {against} |")
    if summary["streaming"]:
        lines += ["", "## Per-call overhead: one step, batch 1, state carried (LSTM, input 32)", "",
                  "| comparison | hidden | median (range) | each run | goal |", "|---|---|---|---|---|"]  # fmt: skip
        for r in summary["streaming"]:
            each = ", ".join(f"{v:.2f}" for v in r["values"])
            lines.append(f"| {r['ratio']} | {r['hidden']} | {_range(r)} | {each} | {_goal(r['goal'])} |")
    lines += ["", "## Ratios by size and cell", "",
              "| size | cell | ratio | forward | train step | goal |", "|---|---|---|---|---|---|"]  # fmt: skip
    for r in summary["ratios"]:
        lines.append(f"| {r['size']} | {r['cell']} | {r['ratio']} | {_range(r.get('forward'))} | "
                     f"{_range(r.get('train'))} | {_goal(r['goal'])} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def write_report(result: dict[str, Any], out: Path) -> None:
    """<label>.json, <label>.md and the PNGs in `out`. Rewrite them from a saved run with
    `python -m seqnet_benchmarks.report benchmarks/results/cpu.json`."""
    result["ratios"] = ratios(result["rows"])
    result["headline"] = headline(result["ratios"])
    result["streaming_ratios"] = streaming_ratios(result.get("streaming", []))
    result["plots"] = plots(result, out)
    (out / f"{result['label']}.json").write_text(json.dumps(result, indent=1))
    (out / f"{result['label']}.md").write_text(markdown(result))


def write_summary(summary: dict[str, Any], out: Path) -> None:
    """<label>.json, <label>.md and <label>-headline.png of an `over_runs` summary in `out`."""
    label = summary["label"]
    (out / f"{label}.json").write_text(json.dumps(summary, indent=1))
    (out / f"{label}.md").write_text(over_runs_markdown(summary))
    title = f"{label}: {_where(summary)}, {summary['threads']} threads, median of {len(summary['runs'])} whole runs"
    headline_plot(summary["headline"], title, out / f"{label}-headline.png")


def main(argv: list[str] | None = None) -> int:
    """`python -m seqnet_benchmarks.report RUN.json` rewrites a run's markdown and plots from its JSON;
    `... report --compare OLD.json NEW.json` prints each ratio's change; `... report RUN.json --merge A.json
    B.json` writes runs of separate frameworks as one run named RUN; `... report SUMMARY.json --runs A.json B.json
    C.json` writes each ratio's median over whole runs (`over_runs`) as SUMMARY.json and SUMMARY.md."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m seqnet_benchmarks.report")
    parser.add_argument("run", nargs="?", help="a JSON that seqnet bench wrote")
    parser.add_argument("--compare", nargs=2, metavar=("OLD", "NEW"), default=None)
    parser.add_argument("--merge", nargs="+", metavar="PART", default=None,
                        help="runs of separate frameworks to write as one run (RUN names the merged JSON)")  # fmt: skip
    parser.add_argument("--runs", nargs="+", metavar="RUN_I", default=None,
                        help="whole runs, one after another on one machine: each ratio's median over them (RUN names "
                             "the summary's JSON and markdown)")  # fmt: skip
    args = parser.parse_args(argv)
    if not args.compare and not args.run:
        parser.error("give a run's JSON to rewrite its report, or --compare OLD.json NEW.json")
    if args.runs:
        path = Path(args.run)
        write_summary(over_runs([json.loads(Path(p).read_text()) for p in args.runs], path.stem), path.parent)
        return 0
    if args.merge:
        path = Path(args.run)
        write_report(merge([json.loads(Path(p).read_text()) for p in args.merge], path.stem), path.parent)
        return 0
    if args.compare:
        old, new = (json.loads(Path(p).read_text()) for p in args.compare)
        print(compare(old, new))
        return 0
    path = Path(args.run)
    write_report(json.loads(path.read_text()), path.parent)
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
