"""Thin ASGI layer: decode the transport, run the pipeline, encode the answer."""
