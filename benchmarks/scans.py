"""minGRU's parallel scan against its sequential form as T grows, per backend, and against the GRU of the same
size (seqnet's generic GRU loop; torch's fused nn.GRU): forward and one training step (loss and gradients).

Requirements: numpy; the frameworks measured (each in a process of its own, threads pinned); autograd for
NumPy's training step. `python -m seqnet_benchmarks.scans --out benchmarks/results` writes cpu-scans.{json,md};
`--steps 64,256` and `--groups torch` narrow it; `--replot RUN.json` rewrites a saved run's markdown and
plot. B 8, I = H 256, float32, medians of interleaved rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .timing import interleaved, machine, thread_env

GROUPS = ("numpy", "torch", "jax", "paddle")
BATCH, HIDDEN = 8, 256


def _callables(group: str, steps: int) -> dict[str, Any]:
    """name -> a function that runs one forward or one training step at `steps` steps."""
    import seqnet

    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, steps, HIDDEN)).astype(np.float32)
    target = rng.standard_normal((BATCH, steps, HIDDEN)).astype(np.float32)
    mingru = seqnet.Spec("mingru", HIDDEN, HIDDEN)
    gru = seqnet.Spec("gru", HIDDEN, HIDDEN)
    fns: dict[str, Any] = {}
    for scan in ("parallel", "sequential"):
        model = seqnet.build(mingru, group, seqnet.init_weights(mingru, seed=0), scan=scan)
        fns[f"mingru {scan} forward"] = _forward(group, model, x)
        fns[f"mingru {scan} train"] = _train(group, model, x, target)
    fused = group in ("torch", "paddle")
    generic = seqnet.build(gru, group, seqnet.init_weights(gru, seed=0), **({"fused": False} if fused else {}))
    fns["gru generic forward"] = _forward(group, generic, x)
    fns["gru generic train"] = _train(group, generic, x, target)
    if group == "torch":
        layer = seqnet.build(gru, "torch", seqnet.init_weights(gru, seed=0), fused=True)
        fns["gru fused forward"] = _forward(group, layer, x)
        fns["gru fused train"] = _train(group, layer, x, target)
    return fns


def _forward(group: str, model: Any, x: np.ndarray) -> Any:
    import seqnet

    if group == "numpy":
        return lambda: model(x)
    if group == "jax":
        import jax

        xs = jax.numpy.asarray(x)
        return lambda: jax.block_until_ready(model(xs)[0])
    return lambda: seqnet.predict(model, x)


def _train(group: str, model: Any, x: np.ndarray, target: np.ndarray) -> Any:
    import seqnet

    if group == "numpy":
        weights = seqnet.weights_of(model)
        return lambda: seqnet.value_and_grad(model.spec, weights, x, target, backend="numpy")
    if group == "jax":
        import jax

        xs, ys = jax.numpy.asarray(x), jax.numpy.asarray(target)
        loss = jax.jit(jax.value_and_grad(lambda p: ((model.apply(p, xs)[0] - ys) ** 2).mean()))
        return lambda: jax.block_until_ready(loss(model.params)[1])
    if group == "torch":
        import torch

        xs, ys = torch.from_numpy(x), torch.from_numpy(target)

        def step() -> None:
            model.zero_grad()
            ((model(xs)[0] - ys) ** 2).mean().backward()

        return step
    import paddle

    xs, ys = paddle.to_tensor(x), paddle.to_tensor(target)

    def paddle_step() -> None:
        model.clear_gradients()
        ((model(xs)[0] - ys) ** 2).mean().backward()

    return paddle_step


def measure(group: str, steps_list: list[int], budget_s: float) -> list[dict[str, Any]]:
    rows = []
    for steps in steps_list:
        for name, timing in interleaved(_callables(group, steps), warmup=1, min_rounds=3, max_rounds=7,
                                        budget_s=budget_s).items():  # fmt: skip
            rows.append({"group": group, "steps": steps, "impl": name, "ms": timing["median_ms"],
                         "iqr_ms": timing["iqr_ms"]})  # fmt: skip
    return rows


def markdown(result: dict[str, Any]) -> str:
    lines = [f"# minGRU: parallel against sequential scan ({result['machine'].get('cpu')}, {result['threads']} "
             f"threads, B {BATCH}, I = H {HIDDEN}, float32)", "",
             "Time ratios within one run (below 1: the first is faster); `seqnet bench`'s method: medians of "
             "interleaved rounds.", "",
             "| backend | T | parallel / sequential forward | parallel / sequential train | parallel train / "
             "GRU generic train | parallel train / torch nn.GRU train | parallel train ms |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for group in dict.fromkeys(r["group"] for r in result["rows"]):
        for steps in sorted({r["steps"] for r in result["rows"] if r["group"] == group}):
            ms = {r["impl"]: r["ms"] for r in result["rows"] if r["group"] == group and r["steps"] == steps}
            torch_gru = {r["impl"]: r["ms"] for r in result["rows"] if r["group"] == "torch" and r["steps"] == steps}
            nn_gru = torch_gru.get("gru fused train")
            # NumPy's gradients of a linear form always run its hand-written backward (one computation for both)
            train = (
                "- (one backward)"
                if group == "numpy"
                else f"{ms['mingru parallel train'] / ms['mingru sequential train']:.2f}"
            )
            lines.append(
                f"| {group} | {steps} | {ms['mingru parallel forward'] / ms['mingru sequential forward']:.2f} | "
                f"{train} | "
                f"{ms['mingru parallel train'] / ms['gru generic train']:.2f} | "
                f"{'-' if nn_gru is None else format(ms['mingru parallel train'] / nn_gru, '.2f')} | "
                f"{ms['mingru parallel train']:.1f} |"
            )
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], path: Path) -> bool:
    """Training-step time against T, one panel per backend (log-log): minGRU's parallel and sequential forms,
    the GRU's generic loop and torch's nn.GRU, so where one overtakes another reads at a glance. False without
    matplotlib."""
    from .report import _pyplot

    plt = _pyplot()
    if plt is None:
        return False
    groups = list(dict.fromkeys(r["group"] for r in result["rows"]))
    fig, axes = plt.subplots(1, len(groups), figsize=(3.6 * len(groups), 3.4), squeeze=False)
    nn_gru = {r["steps"]: r["ms"] for r in result["rows"] if r["group"] == "torch" and r["impl"] == "gru fused train"}
    for ax, group in zip(axes[0], groups, strict=True):
        for impl, style in (("mingru parallel train", "o-"), ("mingru sequential train", "s--"),
                            ("gru generic train", "^:")):  # fmt: skip
            pts = sorted((r["steps"], r["ms"]) for r in result["rows"] if r["group"] == group and r["impl"] == impl)
            ax.loglog(*zip(*pts, strict=True), style, label=impl.removesuffix(" train"))
        if nn_gru:
            ax.loglog(*zip(*sorted(nn_gru.items()), strict=True), "k-", lw=0.8, label="torch nn.GRU")
        ax.set(title=group, xlabel="T (steps)", ylabel="training step, ms" if ax is axes[0][0] else None)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"training step against T: B {BATCH}, I = H {HIDDEN}, {result['threads']} threads", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seqnet_benchmarks.scans")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--steps", default="64,256,1024,4096")
    parser.add_argument("--groups", default=",".join(GROUPS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--budget", type=float, default=6.0, help="seconds per T and backend, roughly")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--replot", default=None, metavar="JSON", help="rewrite the markdown and plot of a saved run")
    args = parser.parse_args(argv)
    if args.replot:
        saved = json.loads(Path(args.replot).read_text())
        Path(args.replot).with_suffix(".md").write_text(markdown(saved))
        plot(saved, Path(args.replot).with_suffix(".png"))
        return 0
    steps = [int(s) for s in args.steps.split(",")]
    if args.child:
        print(json.dumps(measure(args.child, steps, args.budget)))
        return 0
    rows = []
    for group in args.groups.split(","):
        env = {**os.environ, **thread_env(args.threads)}
        command = [sys.executable, "-m", "seqnet_benchmarks.scans", "--child", group, "--steps", args.steps,
                   "--budget", str(args.budget)]  # fmt: skip
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode:
            print(f"{group}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
            return 1
        rows += json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{group}: measured", flush=True)
    result = {"label": "cpu-scans", "machine": machine(), "threads": args.threads, "rows": rows}
    out = Path(args.out)
    (out / "cpu-scans.json").write_text(json.dumps(result, indent=1))
    (out / "cpu-scans.md").write_text(markdown(result))
    plot(result, out / "cpu-scans.png")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
