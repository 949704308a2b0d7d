"""PaddlePaddle backend declaration; paddle is imported only when the backend is first used."""

from seqnet.registry import Backend

backend = Backend(
    name="paddle",
    module=f"{__name__}.model",
    requires=("paddle",),
    install="'seqnet[paddle]'",
    distributions=("paddlepaddle",),
)
