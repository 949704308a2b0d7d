"""seqnet's built-in backends, installed as the package `seqnet_backends` (never a bare `backends`).

Requirements: none here. Each subpackage declares a `seqnet.Backend` in its `__init__` (cheap: it imports
no framework) and keeps the framework code in its `model` module, loaded on first use. They register
through the entry-point group `seqnet.backends`, exactly as a third-party plugin would (pyproject.toml).
"""
