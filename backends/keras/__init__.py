"""Keras 3 converter declaration (Keras has no seqnet backend: its layers convert to and from seqnet's Spec);
keras is imported only when the converter is first used, never with TensorFlow."""

from seqnet.registry import Converter

converter = Converter(
    name="keras",
    module=f"{__name__}.convert",
    roots=("keras",),
    suffixes=(".keras", ".h5"),
    requires=("keras",),
    install="keras",
)
