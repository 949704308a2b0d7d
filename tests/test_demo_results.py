"""Each classic task reaches, on every backend, what docs/learn/tasks.md's table says (full default epochs).

The bounds are that table's figures with a margin for float32 rounding between frameworks; a task that
stopped learning on a backend (a wrong gradient, a broken optimizer step) misses them by orders of magnitude.
"""

import pytest
from conftest import importorskip, require

from seqnet.demos.tasks import DEMOS

importorskip("matplotlib", "the demos draw with matplotlib: pip install 'seqnet[plot]'")

# task: (largest final training loss, bound on the held-out metric, whether the metric must be above it)
BOUNDS = {
    "sine": (0.002, 0.1, False),  # docs: 0.00156, rollout RMSE 0.070
    "sin2cos": (0.025, 0.002, False),  # docs: 0.0210, held-out MSE 0.0014
    "classify": (0.02, 0.98, True),  # docs: 0.0093-0.0173, held-out accuracy 99.2-100%
    "series": (0.001, 0.001, False),  # docs: 0.00047, held-out MSE 0.0005
    "gradient-flow": (0.01, 1e-9, False),  # docs: clipped loss 0.0041, rnn gradient 50 steps back 1.3e-12
}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["numpy", "torch", "paddle", "jax"])
def test_every_task_reaches_the_documented_figures(tmp_path, backend):
    require(backend)
    for name, (loss, bound, above) in BOUNDS.items():
        result = DEMOS[name](backend=backend, out=tmp_path)
        assert result.loss <= loss, (name, result)
        assert (result.value >= bound) if above else (result.value <= bound), (name, result)
