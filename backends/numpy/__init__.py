"""NumPy backend declaration (the reference; always available with seqnet)."""

from seqnet.registry import Backend

backend = Backend(
    name="numpy",
    module=f"{__name__}.model",
    requires=("numpy",),
    install="numpy",
)
