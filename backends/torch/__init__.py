"""PyTorch backend and converter declarations; torch is imported only when one is first used."""

from seqnet.registry import Backend, Converter

backend = Backend(
    name="torch",
    module=f"{__name__}.model",
    requires=("torch",),
    install="'seqnet[torch]' (CPU build: pip install torch --index-url https://download.pytorch.org/whl/cpu)",
    dtypes=("float32", "float64", "float16", "bfloat16"),
)

converter = Converter(
    name="torch",
    module=f"{__name__}.convert",
    roots=("torch",),
    suffixes=(".pt", ".pth"),
    install="torch",
    distributions=("torch",),
)
