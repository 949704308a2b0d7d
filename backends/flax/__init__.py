"""flax converter declaration (NNX modules and linen cells; flax has no seqnet backend of its own: the JAX
backend runs what it converts); flax is imported only when the converter is first used."""

from seqnet.registry import Converter

converter = Converter(name="flax", module=f"{__name__}.convert", roots=("flax",), requires=("flax",), install="flax")
