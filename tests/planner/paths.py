"""Where the shared data folder is, from any checkout (main or a worktree).

`$FLEETCOST_DATA` when set, else the first `shared/data` found walking up
from the repository (it sits beside the main checkout, a level higher for
worktrees). Tests that need it skip when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def shared_data() -> Path:
    env = os.environ.get("FLEETCOST_DATA")
    if env:
        return Path(env)
    for folder in REPO.parents:
        if (folder / "shared" / "data").is_dir():
            return folder / "shared" / "data"
    return REPO.parent / "shared" / "data"


SHARED = shared_data()
