"""The web app's views in Debian's Chromium, over ``ckn serve`` on the bundle's embedded store.

Each view is opened in a fresh tab and timed from navigation to its answer on screen (the element a
user reads: the first expert card, the tree's first node, the heat map, the dossier, the upload form).
The first opening of each view is the one the target is about (≤ 1 s), timed once the server has
built what it builds at start (``/readyz`` lists nothing warming: the cold start is the live part's
measure); the median of five more is reported beside it, and how long the warming took.
"""

from __future__ import annotations

import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from ckn.bench.common import line
from ckn.bench.live_bench import served

VIEWS_TIMED = 5
"""Openings of each view after the first, for the median."""
WARMING_AT_MOST = 900
"""Seconds to wait for the server's start-up builds before timing anyway."""


def run_web_benchmarks(store_dir: Path, work: Path, scale: str) -> list[dict[str, Any]]:
    """First and median time to each view's answer on screen, at 1280×800."""
    chromium = shutil.which("chromium")
    if chromium is None:
        missing = "Debian's chromium is not installed"
        return [line("web app views", "not measured", missing, None, "≤ 1 s", False)]
    from playwright.sync_api import sync_playwright

    lines = []
    with served({"CKN_HOME": str(store_dir)}, work) as (client, _, ready_s), sync_playwright() as playwright:
        started = time.perf_counter()
        while client.get("/readyz").json()["warming"] and time.perf_counter() - started < WARMING_AT_MOST:
            time.sleep(1)
        warmed_s = ready_s + time.perf_counter() - started
        referrer = client.get("/referrers?top=1").json()[0]
        topic = next(iter(client.get("/knowledge/gaps?limit=1").json() or []), None)
        subject = topic["name"] if topic else client.get("/topics?limit=1").json()[0]["name"]
        views = {
            "expert finder": (f"/experts?q={subject}", ".expert"),
            "referral explorer": (f"/referrals/{referrer['customer_id']}", "svg.tree .node"),
            "knowledge map": ("/knowledge", "table.heat tbody tr"),
            "customer 360": (f"/customer/{referrer['customer_id']}", ".dossier"),
            "ingest": ("/ingest", "input[type=file]"),
        }
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        base = str(client.base_url).rstrip("/")
        warmup = browser.new_context()  # the browser's own start (a user's browser is already running)
        warmup.new_page().goto(f"{base}/#/ingest")
        warmup.close()
        for name, (hash_, ready) in views.items():
            times = []
            for _ in range(1 + VIEWS_TIMED):
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                page = context.new_page()
                started = time.perf_counter()
                page.goto(f"{base}/#{hash_}")
                page.locator(ready).first.wait_for(timeout=120_000)
                times.append((time.perf_counter() - started) * 1000)
                context.close()
            first, median = times[0], statistics.median(times[1:])
            lines.append(
                line(
                    f"web app, {name} ({scale} bundle, embedded store): first opening to its answer shown",
                    f"{first:,.0f} ms",
                    f"median of {VIEWS_TIMED} more openings {median:,.0f} ms (server warmed {warmed_s:,.0f} s"
                    " after start)",
                    first / 1000,
                    "≤ 1 s (first paint of each view)",
                    first <= 1000,
                )
            )
        browser.close()
    return lines
