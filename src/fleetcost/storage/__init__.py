"""Storage behind narrow protocols, one per concern (see `base`).

Concrete stores are chosen only where the app is wired (`open_stores`).
"""
