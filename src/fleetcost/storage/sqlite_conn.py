"""How every SQLite store opens its file.

WAL lets readers (the CLI, the dashboard) work while the gateway writes;
`synchronous=NORMAL` in WAL mode syncs at checkpoints rather than on every
commit (a power cut may lose the last transactions, never corrupt the file);
the busy timeout absorbs the short locks of a second process.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


def connect(path: str) -> sqlite3.Connection:
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn
