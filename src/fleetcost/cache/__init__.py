"""Semantic response cache: offline MiniLM embeddings, a scope-partitioned vector
index and a detail guard that refuses near-duplicates differing in one detail.

Submodules import numpy/tokenizers lazily (the `semantic` extra), so importing
this package costs nothing.
"""
