"""Adapters that make externally built models into routing policies."""
