import numpy as np
import pytest

from seqnet import Spec, Weights, WeightsError, as_weights, init_weights, layout


def test_layout_is_pytorch_names_and_shapes():
    spec = Spec("lstm", 3, 5, num_layers=2, bidirectional=True, proj_size=2, output_size=4)
    shapes = layout(spec)
    assert list(shapes)[:5] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_hr_l0"]
    assert shapes["weight_ih_l0"] == (20, 3)
    assert shapes["weight_hh_l0_reverse"] == (20, 2)
    assert shapes["weight_ih_l1"] == (20, 4)
    assert shapes["weight_hr_l1_reverse"] == (2, 5)
    assert shapes["head.weight"] == (4, 4) and shapes["head.bias"] == (4,)
    assert "bias_ih_l0" not in layout(Spec("gru", 3, 5, bias=False))
    assert layout(Spec("gru", 3, 5))["weight_hh_l0"] == (15, 5)


def test_init_is_reproducible_bounded_and_keyed_by_name():
    spec = Spec("gru", 3, 16, output_size=2)
    a, b = init_weights(spec, seed=7), init_weights(spec, seed=7)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["weight_ih_l0"], init_weights(spec, seed=8)["weight_ih_l0"])
    assert np.abs(a["weight_hh_l0"]).max() <= 1 / 4
    assert np.abs(a["weight_hh_l0"]).max() > 0.2  # uses the whole range
    assert a["weight_ih_l0"].dtype == np.float32
    # adding a head or a layer leaves the other arrays unchanged
    plain = init_weights(Spec("gru", 3, 16, num_layers=2), seed=7)
    assert np.array_equal(plain["weight_ih_l0"], a["weight_ih_l0"])
    # float64 is the same draw, not a different one
    f64 = init_weights(spec, seed=7, dtype="float64")
    assert np.array_equal(f64["weight_ih_l0"].astype(np.float32), a["weight_ih_l0"])


def test_init_matches_known_pcg64_draw():
    # an independent reproduction of the documented recipe: PCG64 keyed by (seed, crc32(name)), uniform
    import zlib

    spec = Spec("rnn", 2, 4)
    rng = np.random.Generator(np.random.PCG64([3, zlib.crc32(b"weight_hh_l0")]))
    expected = rng.uniform(-0.5, 0.5, size=(4, 4))
    assert np.array_equal(init_weights(spec, seed=3, dtype="float64")["weight_hh_l0"], expected)


def test_weights_are_read_only_copies():
    spec = Spec("rnn", 2, 3)
    raw = {k: np.array(v) for k, v in init_weights(spec).items()}
    weights = as_weights(spec, raw)
    raw["weight_ih_l0"][:] = 9
    assert not np.any(weights["weight_ih_l0"] == 9)
    with pytest.raises(ValueError):
        weights["weight_ih_l0"][0, 0] = 1.0
    assert isinstance(weights, Weights) and len(weights) == 4


def test_as_weights_lists_every_problem_at_once():
    spec = Spec("lstm", 3, 5, output_size=2)
    raw = dict(init_weights(spec))
    del raw["bias_hh_l0"]
    raw["weight_ih_l0"] = np.zeros((5, 3), np.float32)
    raw["extra"] = np.zeros(1)
    raw["head.bias"] = np.zeros(2, dtype=np.int64)
    with pytest.raises(WeightsError) as info:
        as_weights(spec, raw)
    message = str(info.value)
    assert "missing bias_hh_l0 [20]" in message
    assert "unexpected extra" in message
    assert "weight_ih_l0 has shape [5, 3], expected [20, 3]" in message
    assert "head.bias has dtype int64" in message


def test_as_weights_accepts_any_mapping_and_casts():
    spec = Spec("rnn", 2, 3)
    plain = {k: v.tolist() for k, v in init_weights(spec).items()}
    weights = as_weights(spec, plain, dtype="float64")
    assert weights.dtype == np.float64 and list(weights) == list(layout(spec))
    with pytest.raises(WeightsError, match="dtype='float16' is not supported"):
        as_weights(spec, plain, dtype="float16")
    with pytest.raises(WeightsError, match="mapping"):
        as_weights(spec, [1, 2])
