"""The trained router behind the gateway: `fleetcost router train` writes it, `[routing.trained]`
loads it, and each routed request goes where the router file says.

Skipped until the trainer (`fleetcost.routing.trained`) is in the tree.
"""

from __future__ import annotations

import csv
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.gateway.conftest import Stack, run_stack

trained = pytest.importorskip("fleetcost.routing.trained")

TOPICS = ["algebra proof", "integral calculus", "history of rome", "poem about rain"]


def training_csv(path: Path) -> Path:
    """Weak model good on the easy topics, rarely on the hard ones."""
    rng = random.Random(7)
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["prompt", "gpt-4o-mini", "gpt-4o"])
        for i in range(160):
            topic = TOPICS[i % 4]
            hard = topic in ("algebra proof", "integral calculus")
            filler = " ".join(rng.choice(["please", "now", "kindly", "today"]) for _ in range(5))
            weak_ok = not hard or rng.random() < 0.1
            out.writerow([f"{filler} {topic} question {i}", str(weak_ok), "True"])
    return path


@pytest.fixture(scope="module")
def router_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("trained")
    out = tmp / "router.json"
    done = subprocess.run(
        [sys.executable, "-m", "fleetcost.cli.main", "router", "train",
         str(training_csv(tmp / "train.csv")), "--out", str(out),
         "--weak", "gpt-4o-mini", "--strong", "gpt-4o"],
        capture_output=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return out


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, router_file: Path) -> Iterator[Stack]:
    config = f"""
[routing]
weak = "gpt-4o-mini"
strong = "gpt-4o"
policies = ["trained"]

[routing.trained]
path = "{router_file}"
"""
    with run_stack(tmp_path_factory.mktemp("trained-stack"), config=config) as s:
        yield s


def test_requests_go_where_the_router_file_says(stack: Stack, router_file: Path) -> None:
    router = trained.load_router(router_file)
    chosen = []
    with openai.OpenAI(base_url=stack.gateway + "/v1", api_key="sk", max_retries=0) as client:
        for i, topic in enumerate(TOPICS * 2):
            prompt = f"kindly now please today now {topic} question {200 + i}"
            raw = client.chat.completions.with_raw_response.create(
                model="auto", messages=[{"role": "user", "content": prompt}], max_tokens=5)
            want = "gpt-4o-mini" if router.prob_weak_ok(prompt) >= router.threshold else "gpt-4o"
            assert raw.headers["x-fleetcost-model"] == want
            assert raw.headers["x-fleetcost-route"].startswith("trained:p(weak ok)=")
            chosen.append(want)
    assert set(chosen) == {"gpt-4o-mini", "gpt-4o"}
