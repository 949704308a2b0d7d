"""PyTorch backend declaration; torch is imported only when the backend is first used."""

from seqnet.registry import Backend

backend = Backend(
    name="torch",
    module=f"{__name__}.model",
    requires=("torch",),
    install="'seqnet[torch]' (CPU build: pip install torch --index-url https://download.pytorch.org/whl/cpu)",
    dtypes=("float32", "float64", "float16", "bfloat16"),
)
