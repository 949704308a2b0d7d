"""ONNX declarations: the "onnxruntime" backend (a Spec exported to ONNX and run by ONNX Runtime, inference
only) and the "onnx" converter (export, import, .onnx files). Neither imports onnx until first used."""

from seqnet.registry import Backend, Converter

backend = Backend(
    name="onnxruntime",
    module=f"{__name__}.model",
    requires=("onnx", "onnxruntime"),
    install="'seqnet[onnx]'",
    dtypes=("float32",),
)

converter = Converter(
    name="onnx",
    module=f"{__name__}.convert",
    roots=("onnx",),
    suffixes=(".onnx",),
    requires=("onnx",),
    install="'seqnet[onnx]'",
)
