import json
import os
import struct

import numpy as np
import pytest
from conftest import importorskip

import seqnet
from seqnet import FileFormatError, Spec, WeightsError, init_weights, load, save

SPEC = Spec("lstm", 3, 5, num_layers=2, bidirectional=True, proj_size=2, output_size=4, output_mode="last")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip(tmp_path, dtype):
    weights = init_weights(SPEC, seed=3, dtype=dtype)
    path = tmp_path / "model.safetensors"
    save(path, SPEC, weights)
    spec, loaded = load(path)
    assert spec == SPEC
    assert list(loaded) == list(weights)
    for name in weights:
        assert loaded[name].dtype == np.dtype(dtype)
        assert np.array_equal(loaded[name], weights[name])


def test_file_is_standard_safetensors(tmp_path):
    st = importorskip("safetensors.numpy", "the safetensors package checks interoperability")
    weights = init_weights(SPEC, seed=1)
    path = tmp_path / "m.safetensors"
    save(path, SPEC, weights)
    theirs = st.load_file(str(path))
    assert set(theirs) == set(weights)
    assert all(np.array_equal(theirs[k], weights[k]) for k in weights)
    # and a file safetensors wrote, with our metadata, loads here
    other = tmp_path / "theirs.safetensors"
    st.save_file({k: np.array(v) for k, v in weights.items()}, str(other), metadata={"seqnet.spec": SPEC.to_json()})
    spec, loaded = load(other)
    assert spec == SPEC and all(np.array_equal(loaded[k], weights[k]) for k in weights)


def test_save_checks_weights_before_writing(tmp_path):
    path = tmp_path / "m.safetensors"
    bad = dict(init_weights(SPEC))
    del bad["head.bias"]
    with pytest.raises(WeightsError, match="missing head.bias"):
        save(path, SPEC, bad)
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_crash_mid_save_leaves_old_file(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    save(path, SPEC, init_weights(SPEC, seed=1))
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        save(path, SPEC, init_weights(SPEC, seed=2))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temporary left behind


def _saved(tmp_path):
    path = tmp_path / "m.safetensors"
    save(path, SPEC, init_weights(SPEC, seed=1))
    return path


def test_truncated_file(tmp_path):
    path = _saved(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 10])
    with pytest.raises(FileFormatError, match="not a valid safetensors file: .*not fully covered"):
        load(path)
    path.write_bytes(data[:5])
    with pytest.raises(FileFormatError, match="not a valid safetensors file: .*header too small"):
        load(path)
    path.write_bytes(data[:200])
    with pytest.raises(FileFormatError, match="not a valid safetensors file: .*invalid header length"):
        load(path)


def test_corrupted_header(tmp_path):
    path = _saved(tmp_path)
    data = bytearray(path.read_bytes())
    data[8] = ord("#")  # the header's opening brace
    path.write_bytes(bytes(data))
    with pytest.raises(FileFormatError, match="not a valid safetensors file: .*invalid JSON in header"):
        load(path)


def _rewrite_header(path, edit):
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])
    edit(header)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + size :])


def test_mismatched_weights_listed(tmp_path):
    path = _saved(tmp_path)

    def edit(header):
        header["weight_ih_l0"]["shape"] = [10, 6]  # same byte count, wrong shape
        header["renamed"] = header.pop("bias_hh_l1")

    _rewrite_header(path, edit)
    with pytest.raises(FileFormatError) as info:
        load(path)
    message = str(info.value)
    assert "weight_ih_l0 has shape [10, 6], expected [20, 3]" in message
    assert "missing bias_hh_l1" in message and "unexpected renamed" in message


def test_wrong_byte_count_and_missing_spec(tmp_path):
    path = _saved(tmp_path)
    _rewrite_header(path, lambda h: h["head.bias"].update(shape=[5]))
    with pytest.raises(FileFormatError, match="invalid shape, data type, or offset for tensor"):
        load(path)
    path = _saved(tmp_path)
    _rewrite_header(path, lambda h: h.pop("__metadata__"))
    with pytest.raises(FileFormatError, match="no seqnet spec"):
        load(path)
    path = _saved(tmp_path)
    _rewrite_header(path, lambda h: h["__metadata__"].update({"seqnet.spec": '{"cell": "cnn"}'}))
    with pytest.raises(FileFormatError, match="invalid spec"):
        load(path)


def test_loaded_model_computes_same(tmp_path):
    path = _saved(tmp_path)
    spec, weights = load(path)
    x = np.random.default_rng(0).standard_normal((2, 4, 3)).astype("float32")
    a, _ = seqnet.build(spec, weights=weights)(x)
    b, _ = seqnet.build(SPEC, weights=init_weights(SPEC, seed=1))(x)
    assert np.array_equal(a, b)
