"""The "doubler" toy backend: the twin's outputs, doubled (it must fail the conformance suite)."""

from toy_backends import TwinModel, from_numpy, to_numpy, weights_of  # noqa: F401


class Doubled(TwinModel):
    seqnet_backend = "doubler"

    def __call__(self, x, state=None, lengths=None):
        out, final = super().__call__(x, state, lengths)
        return 2 * out, final


def build(spec, weights, dtype="float32"):
    return Doubled(spec, weights, dtype)
