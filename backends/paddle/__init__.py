"""PaddlePaddle backend and converter declarations; paddle is imported only when one is first used."""

from seqnet.registry import Backend, Converter

backend = Backend(
    name="paddle",
    module=f"{__name__}.model",
    requires=("paddle",),
    install="'seqnet[paddle]'",
    distributions=("paddlepaddle",),
)

converter = Converter(
    name="paddle",
    module=f"{__name__}.convert",
    roots=("paddle",),
    suffixes=(".pdparams",),
    install="paddlepaddle",
    distributions=("paddlepaddle",),
)
