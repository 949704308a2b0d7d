"""seqnet.testing's public pieces: assert_same_function's verdicts and messages, and strategies that shrink."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require
from hypothesis import find, given, settings
from hypothesis import strategies as st

import seqnet
from seqnet.testing import Call, ParityError, assert_same_function, calls, specs, weights


def test_same_function_passes_and_reports_the_largest_differences():
    require("torch")
    spec = seqnet.Spec("lstm", 3, 5, num_layers=2, bidirectional=True, output_size=2)
    w = seqnet.init_weights(spec, seed=1)
    found = assert_same_function(seqnet.build(spec, "torch", w), seqnet.build(spec, "numpy", w), gradients=True)
    assert set(found) == {"outputs", "state", "gradients"} and 0 < max(found.values()) <= 1e-4


def test_a_different_function_fails_with_spec_input_and_difference():
    spec = seqnet.Spec("gru", 3, 4)
    a = seqnet.build(spec, "numpy", seqnet.init_weights(spec, seed=1))
    b = seqnet.build(spec, "numpy", seqnet.init_weights(spec, seed=2))
    with pytest.raises(ParityError) as info:
        assert_same_function(a, b)
    message = str(info.value)
    assert "a and b compute different functions" in message
    assert f"spec: {spec}" in message
    assert "input: x [3, 5, 3] float32 (seed 0), state none, lengths None" in message
    assert "largest difference: outputs " in message and " at [" in message and "tolerance: 1e-05" in message


def test_framework_layers_on_either_side():
    require("torch")
    require("jax")
    import torch

    layer = torch.nn.GRU(3, 4, bidirectional=True, batch_first=True)
    spec, w = seqnet.from_framework(layer)
    assert_same_function(layer, seqnet.build(spec, "jax", w))
    other = torch.nn.GRU(3, 4, bidirectional=True, batch_first=True)
    with pytest.raises(ParityError, match="largest difference: outputs"):
        assert_same_function(layer, other)
    with pytest.raises(ParityError, match="a and b differ in input_size: 3 and 5"):
        assert_same_function(layer, torch.nn.GRU(5, 4, batch_first=True))


def test_given_inputs_and_tuples():
    spec = seqnet.Spec("rnn", 2, 3)
    model = seqnet.build(spec, "numpy", seqnet.init_weights(spec))
    x = np.ones((2, 4, 2), np.float32)
    assert assert_same_function(model, model, inputs=[(x, None, np.array([4, 1]))])["outputs"] == 0.0


def test_strategies_shrink_to_the_smallest_spec():
    smallest = find(specs(), lambda s: s.hidden_size >= 3 and s.bidirectional, settings=settings(database=None))
    assert (smallest.cell, smallest.input_size, smallest.hidden_size, smallest.num_layers) == ("rnn", 1, 3, 1)
    assert smallest.output_size is None and smallest.bias and smallest.batch_first and smallest.proj_size == 0
    with pytest.raises(seqnet.SpecError, match=r"specs\(\) has no Spec field\(s\) \['hiden_size'\]"):
        find(specs(hiden_size=3), lambda s: True)


@settings(max_examples=50, deadline=None, database=None)
@given(st.data())
def test_drawn_values_fit_their_spec(data):
    spec = data.draw(specs(cell=st.sampled_from(["lstm", "gru"]), max_layers=2))
    w = data.draw(weights(spec, dtype="float64"))
    call = data.draw(calls(spec, max_batch=3, max_steps=4))
    assert isinstance(call, Call) and spec.cell in ("lstm", "gru")
    assert set(w) == set(seqnet.layout(spec)) and w.dtype == np.float64
    batch, steps = (call.x.shape[0], call.x.shape[1]) if spec.batch_first else (call.x.shape[1], call.x.shape[0])
    if call.lengths is not None:
        assert call.lengths.shape == (batch,) and call.lengths.min() >= 1 and call.lengths.max() <= steps
    seqnet.predict(seqnet.build(spec, "numpy", w.astype(call.dtype), call.dtype), call.x, call.state, call.lengths)
