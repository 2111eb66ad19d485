"""Batch offload: provider batches for calls that can wait, at the batch price."""
