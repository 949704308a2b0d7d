"""LiteRT declarations: the "litert" backend (a Spec written as a LiteRT (TensorFlow Lite) flatbuffer and run by
ai-edge-litert's Interpreter, float32, inference only). Nothing imports ai_edge_litert until first used."""

from seqnet.registry import Backend

backend = Backend(
    name="litert",
    module=f"{__name__}.model",
    requires=("ai_edge_litert",),
    install="'seqnet[litert]'",
    distributions=("ai-edge-litert",),
    dtypes=("float32",),
)
