"""The dashboard's pages in a real headless Chromium, on the benchmark's ledger.

The dashboard is one page whose views are reached by navigation and clicks,
so each "page" timed here is what a user waits for: the first load (every
table, chart, percentile and the top sessions), the same page after applying
a time range that does not fall on hour edges, and the drill-down into the
costliest session's calls. Each is timed from the action until the page
marks itself drawn; the gateway's CPU over all runs is reported beside.
"""

from __future__ import annotations

import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import psutil

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
RANGE = ("2026-10-03T07:30", "2026-10-24T16:45")


def _load(page: Any, url: str) -> float:
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_selector("body[data-loaded]", timeout=600_000)
    took = time.perf_counter() - t0
    if page.get_attribute("body", "data-loaded") != "1":
        raise RuntimeError("dashboard failed: " + page.inner_text("#error"))
    return took


def _ranged(page: Any, url: str) -> float:
    _load(page, url)
    page.evaluate("document.body.removeAttribute('data-loaded')")
    page.fill("input[name=since]", RANGE[0])
    page.fill("input[name=until]", RANGE[1])
    t0 = time.perf_counter()
    page.click("#filters button")
    page.wait_for_selector("body[data-loaded]", timeout=600_000)
    return time.perf_counter() - t0


def _drill(page: Any, url: str) -> float:
    _load(page, url)
    t0 = time.perf_counter()
    page.click('table[data-group="session"] tr.clickable >> nth=0')
    page.wait_for_selector('table[data-group="calls"]', timeout=600_000)
    return time.perf_counter() - t0


def time_pages(db: Path, workdir: Path, repeat: int) -> dict[str, Any] | None:
    """Median seconds per page; None when Chromium or Playwright is missing."""
    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if chromium is None:
        return None
    from bench.procs import fleetcost, free_port

    port = free_port()
    cfg = workdir / "bench.toml"
    cfg.write_text("[alerts]\nenabled = false\n")
    out: dict[str, Any] = {"target_s": 1.0}
    with fleetcost("gateway", ["serve", "--port", str(port), "--config", str(cfg)], port,
                   workdir, env={"FLEETCOST_DB": str(db)}) as gw, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=FLAGS)
        proc = psutil.Process(gw.pid)
        for name, step in (("load", _load), ("range", _ranged), ("drill_down", _drill)):
            times, before = [], proc.cpu_times()
            for _ in range(repeat):
                page = browser.new_page(viewport={"width": 1400, "height": 1800})
                times.append(step(page, gw.url + "/dashboard"))
                page.close()
            after = proc.cpu_times()
            cpu = (after.user - before.user) + (after.system - before.system)
            out[name] = {"page_s_median": round(statistics.median(times), 3),
                         "page_s_max": round(max(times), 3),
                         "gateway_cpu_s_per_run": round(cpu / repeat, 3)}
        browser.close()
    return out
