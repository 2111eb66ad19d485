"""The dashboard's pages in a real headless Chromium, on the benchmark's ledger.

The dashboard is one page whose views are reached by navigation and clicks,
so each "page" timed here is what a user waits for: the first load (every
table, chart, percentile and the top sessions), the same page after applying
a time range that does not fall on hour edges, and the drill-down into the
costliest session's calls. `page_s` is timed in the page's own clock, from
navigation start (or the click) until the page marks itself drawn;
`driver_s` is the same wait as the driving script saw it, which adds the
browser driver's round trips (a few hundred ms on a busy machine). The
gateway's CPU per run is reported beside.
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
# The page's own clock: when it marks itself drawn (ms since navigation started), so
# the figure is the user's wait, without the driver's round trips on a busy machine.
WATCH = """new MutationObserver(() => {
  if (document.body && document.body.dataset.loaded) window.__drawnAt = performance.now();
}).observe(document, {attributes: true, subtree: true, attributeFilter: ["data-loaded"]});"""
Timing = tuple[float, float]  # (seconds seen by the driver, seconds in the page's clock)


def _load(page: Any, url: str) -> Timing:
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_selector("body[data-loaded]", timeout=600_000)
    took = time.perf_counter() - t0
    if page.get_attribute("body", "data-loaded") != "1":
        raise RuntimeError("dashboard failed: " + page.inner_text("#error"))
    return took, page.evaluate("window.__drawnAt") / 1000


def _ranged(page: Any, url: str) -> Timing:
    _load(page, url)
    page.evaluate("document.body.removeAttribute('data-loaded')")
    page.fill("input[name=since]", RANGE[0])
    page.fill("input[name=until]", RANGE[1])
    start = page.evaluate("performance.now()")
    t0 = time.perf_counter()
    page.click("#filters button")
    page.wait_for_selector("body[data-loaded]", timeout=600_000)
    took = time.perf_counter() - t0
    return took, (page.evaluate("window.__drawnAt") - start) / 1000


def _drill(page: Any, url: str) -> Timing:
    _load(page, url)
    t0 = time.perf_counter()
    page.click('table[data-group="session"] tr.clickable >> nth=0')
    page.wait_for_selector('table[data-group="calls"]', timeout=600_000)
    took = time.perf_counter() - t0
    return took, took


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
                page.add_init_script(WATCH)
                times.append(step(page, gw.url + "/dashboard"))
                page.close()
            after = proc.cpu_times()
            cpu = (after.user - before.user) + (after.system - before.system)
            seen, drawn = [t[0] for t in times], [t[1] for t in times]
            out[name] = {"page_s_median": round(statistics.median(drawn), 3),
                         "page_s_max": round(max(drawn), 3),
                         "driver_s_median": round(statistics.median(seen), 3),
                         "gateway_cpu_s_per_run": round(cpu / repeat, 3)}
        browser.close()
    return out
