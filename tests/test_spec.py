import json

import pytest

from seqnet import Spec, SpecError


def test_defaults_and_derived_sizes():
    spec = Spec("lstm", 3, 5, num_layers=2, bidirectional=True, proj_size=2, output_size=4)
    assert (spec.num_directions, spec.gates, spec.hidden_out) == (2, 4, 2)
    assert spec.layer_input_size(0) == 3 and spec.layer_input_size(1) == 4
    assert spec.features_out == 4
    assert Spec("gru", 3, 5, bidirectional=True).features_out == 10


def test_immutable_and_hashable():
    spec = Spec("gru", 3, 5)
    with pytest.raises(AttributeError):
        spec.hidden_size = 6
    assert hash(spec) == hash(Spec("gru", 3, 5)) and spec == Spec("gru", 3, 5)
    assert len({spec, Spec("gru", 3, 5), Spec("gru", 3, 6)}) == 2


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(cell="rnn", input_size=2, hidden_size=3, activation="sigmoid", num_layers=3, dropout=0.25),
        dict(cell="lstm", input_size=2, hidden_size=3, proj_size=2, bidirectional=True, output_size=1),
        dict(cell="gru", input_size=2, hidden_size=3, gru_variant="reset_before", output_mode="last", bias=False),
    ],
)
def test_round_trip_dict_and_json(kwargs):
    spec = Spec(**kwargs)
    assert Spec.from_dict(spec.to_dict()) == spec
    assert Spec.from_json(json.dumps(json.loads(spec.to_json()))) == spec
    assert spec.to_dict()["cell"] == kwargs["cell"]


@pytest.mark.parametrize(
    "kwargs, field, words",
    [
        (dict(cell="cnn"), "cell", "one of the registered cells ['rnn', 'lstm', 'gru', 'mingru', 'minlstm']"),
        (dict(hidden_size=0), "hidden_size", "positive integer"),
        (dict(input_size=-1), "input_size", "positive integer"),
        (dict(input_size=2.0), "input_size", "positive integer"),
        (dict(num_layers=True), "num_layers", "positive integer"),
        (dict(bidirectional=1), "bidirectional", "True or False"),
        (dict(bias="yes"), "bias", "True or False"),
        (dict(batch_first=None), "batch_first", "True or False"),
        (dict(dropout=1.0, num_layers=2), "dropout", "[0, 1)"),
        (dict(dropout=-0.1, num_layers=2), "dropout", "[0, 1)"),
        (dict(dropout=0.5), "dropout", "num_layers=1"),
        (dict(activation="gelu", cell="rnn"), "activation", "one of"),
        (dict(activation="relu"), "activation", "'tanh' (the default) for cell='lstm', which has no other"),
        (dict(proj_size=2, cell="gru"), "proj_size", "applies to cell='lstm' only"),
        (dict(proj_size=5), "proj_size", "smaller than hidden_size=5"),
        (dict(proj_size=-1), "proj_size", "non-negative"),
        (dict(gru_variant="cho"), "gru_variant", "one of"),
        (dict(gru_variant="reset_before"), "gru_variant", "applies to cell='gru' only"),
        (dict(output_size=0), "output_size", "None or a positive integer"),
        (dict(output_mode="first"), "output_mode", "one of ('sequence', 'last')"),
    ],
)
def test_invalid_fields_name_field_value_and_allowed(kwargs, field, words):
    args = dict(cell="lstm", input_size=3, hidden_size=5) | kwargs
    with pytest.raises(SpecError) as info:
        Spec(**args)
    message = str(info.value)
    assert f"Spec.{field}={args[field]!r}" in message
    assert words in message


def test_from_dict_rejects_unknown_and_missing_keys():
    with pytest.raises(SpecError, match="unknown Spec field.*'hidden'"):
        Spec.from_dict({"cell": "rnn", "input_size": 1, "hidden": 2})
    with pytest.raises(SpecError, match="required field.*hidden_size"):
        Spec.from_dict({"cell": "rnn", "input_size": 1})
    with pytest.raises(SpecError, match="not valid JSON"):
        Spec.from_json("{cell")
