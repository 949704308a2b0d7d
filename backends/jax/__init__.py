"""JAX backend declaration; jax is imported only when the backend is first used."""

from seqnet.registry import Backend

backend = Backend(
    name="jax",
    module=f"{__name__}.model",
    requires=("jax",),
    install="'seqnet[jax]'",
    distributions=("jax", "jaxlib"),
    dtypes=("float32", "float64", "float16", "bfloat16"),
)
