"""LiteRT declarations: the "litert" backend (a Spec written as a LiteRT (TensorFlow Lite) flatbuffer and run by
ai-edge-litert's Interpreter, float32, inference only) and the "litert" converter (.tflite files in and out).
Nothing imports ai_edge_litert until first used."""

from seqnet.registry import Backend, Converter

backend = Backend(
    name="litert",
    module=f"{__name__}.model",
    requires=("ai_edge_litert",),
    install="'seqnet[litert]'",
    distributions=("ai-edge-litert",),
    dtypes=("float32",),
)

converter = Converter(
    name="litert",
    module=f"{__name__}.convert",
    roots=(),
    suffixes=(".tflite",),
    requires=("ai_edge_litert",),
    install="'seqnet[litert]'",
    distributions=("ai-edge-litert",),
)
