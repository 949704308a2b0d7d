"""The conformance suite for a seqnet backend: `pytest --pyargs seqnet.testing.conformance --seqnet-backend NAME`.

Requirements: pytest and hypothesis (`pip install 'seqnet[testing]'`); the backend's framework.

What a backend must honour (test_backend.py): it is registered and available; over the whole parity grid,
in every dtype it declares, its outputs and final states equal the NumPy reference (the NumPy backend is
checked against an independent NumPy implementation of seqnet.generic); weights_of gives back exactly the
weights it was built with; outputs come in the declared dtype and the spec's shape; gradients, where it
has value_and_grad, equal the NumPy backend's hand-written BPTT; bad input gets seqnet's errors naming the
argument; and a property-based run of Hypothesis examples (--seqnet-examples, default 25) finds no mismatch.
Options: --seqnet-option NAME=VALUE (repeatable, a JSON value) passes build options, e.g. fused=false.
"""
