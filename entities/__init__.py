"""Durable entity functions: small pieces of serialized state, such as the per-model lock.

An entity processes one operation at a time per key, which makes it the natural lease for
"one Anaplan task per model at a time". Entity code takes "now" from its caller so that it stays
deterministic. May import ``azure.durable_functions`` and pure helpers from ``bc_anaplan``.
"""
