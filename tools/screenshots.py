"""The pages' screenshots in ``docs/screenshots/``, taken from a running ``leadscore demo``.

Issue 13 asks for screenshots of the queue, a lead page and the marketing page in English
and Russian, from a fresh demo; this script makes them again whenever the pages change
(``docs/screenshots.md`` gives the commands). It signs in as sales and as marketing in
headless system Chromium (``/usr/bin/chromium`` through Playwright, as the browser tests
do — never a downloaded browser) and saves six full-page PNGs.

A fresh demo scores each lead once and sends no names, so its lead pages have no history
chart and no identity. Before the screenshots the script therefore scores one lead of its
own through the public API four times, a second apart and each as of the moment it is
sent (as a CRM's live requests are), each time with one more touch and with a display
name and a company name (made up, like every lead of the demo). The lead is nurtured,
then handed to sales: its page shows the reasons, the history chart and what would change
the decision, and it tops the queue. Apart from the keys ``--home`` makes, nothing is
written to the store but through the API.

Three ways to run it: ``--demo`` (``make screenshots``) starts ``leadscore demo`` itself in
a new temporary ``LEADSCORE_HOME``, reads the keys it prints, takes the screenshots and
stops it; against a demo already serving at ``--url``, ``--keys-from`` reads its printed
output (the lines ``scorer: lsk_…`` and ``sales: <link> key: lsk_…``), or ``--home`` (its
``LEADSCORE_HOME``) has ``leadscore keys create`` make keys of its own.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = Path(os.environ.get("LEADSCORE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
MAX_HEIGHT = 2600
"""Taller pages are cut here: the top of a page is what a reader looks at first."""
ROLES = ("scorer", "sales", "marketing")
LEAD_ID = "shot-lead-1"
VERSIONS = 4
LANGS = {"en": ("en-US", "Europe/London"), "ru": ("ru-RU", "Europe/Moscow")}
"""Each language with the browser locale and time zone it is shown in."""


@dataclass(frozen=True)
class Shot:
    name: str
    role: str
    path: str


SHOTS = [
    Shot("queue", "sales", "/ui/queue"),
    Shot("lead", "sales", f"/ui/leads/{LEAD_ID}"),
    Shot("marketing", "marketing", "/ui/marketing"),
]


def keys_from_output(text: str) -> dict[str, str]:
    """The keys ``leadscore demo`` printed: ``scorer: lsk_…`` and ``sales: <link> key: lsk_…``."""
    keys = {}
    for role in ROLES:
        found = re.search(rf"^\s*{role}:\s.*?(lsk_[A-Za-z0-9_-]+)", text, re.MULTILINE)
        if found:
            keys[role] = found.group(1)
    missing = [r for r in ROLES if r not in keys]
    if missing:
        raise SystemExit(f"no key for {', '.join(missing)} in the demo's output")
    return keys


def keys_in_home(home: Path) -> dict[str, str]:
    """New keys named ``screenshots-<role>``, made by ``leadscore keys create`` in ``home``."""
    env = _env(home)
    keys = {}
    for role in ROLES:
        name = f"screenshots-{role}"
        cli = [sys.executable, "-m", "cli", "keys"]
        subprocess.run([*cli, "revoke", name], env=env, check=True, capture_output=True)
        made = subprocess.run([*cli, "create", name, "--role", role], env=env, check=True,
                              capture_output=True, text=True)  # fmt: skip
        keys[role] = made.stdout.strip().splitlines()[-1]
    return keys


def lead_version(n: int, now: datetime) -> dict[str, Any]:
    """The lead as the CRM sends it the ``n``-th time (0-3), scored as of ``now``: each
    time with one more touch, the last a demo request. With the demo's model (seed 42)
    it is nurtured twice, then handed to sales twice."""
    start = now - timedelta(days=30)
    touches = [
        (timedelta(days=21), "email_open"),
        (timedelta(days=14), "webinar_attended"),
        (timedelta(days=3), "pricing_page_view"),
        (timedelta(hours=2), "demo_request"),
    ]
    return {
        "lead_id": LEAD_ID,
        "created_at": start.isoformat(),
        "channel": "paid_search",
        "industry": "manufacturing",
        "company_size": "201-500",
        "seniority": "director",
        "department": "marketing",
        "country": "DE",
        "consent_email": True,
        "consent_phone": True,
        "display_name": "Lena Hoffmann",
        "company_name": "Nordlicht Maschinenbau GmbH",
        "touches": [
            {"at": (now - ago).isoformat(), "type": kind} for ago, kind in touches[: n + 1]
        ],
        "as_of": now.isoformat(),
    }


def score_the_lead(url: str, keys: dict[str, str]) -> None:
    """Score :data:`LEAD_ID` :data:`VERSIONS` times (unless it has a history already),
    then wait until the decision log has written them (it writes in the background)."""
    with httpx.Client(base_url=url, timeout=60) as http:
        history = f"/v1/leads/{LEAD_ID}/scores"
        sales = {"X-API-Key": keys["sales"]}
        if http.get(history, headers=sales).status_code == 200:
            return  # scored on an earlier run against this server
        decisions = []
        for n in range(VERSIONS):
            body = lead_version(n, datetime.now(UTC))
            answer = http.post("/v1/score", json=body, headers={"X-API-Key": keys["scorer"]})
            answer.raise_for_status()
            decisions.append(f"{answer.json()['decision']} {answer.json()['p_won']:.1%}")
            time.sleep(1.1)  # a second apart: each has its own time in the history table
        print(f"scored {LEAD_ID} {VERSIONS} times: {', '.join(decisions)}")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            got = http.get(history, headers=sales)
            if got.status_code == 200 and got.json().get("total", 0) >= VERSIONS:
                return
            time.sleep(0.5)
        raise SystemExit(f"the decision log did not show {LEAD_ID}'s scores within 60 s")


def save_png(png: bytes, path: Path) -> int:
    """``png`` at most :data:`MAX_HEIGHT` tall, as a 256-colour PNG (a page's flat colours
    survive; the file is a fifth of the size). Returns the file's size."""
    from PIL import Image  # matplotlib's dependency, so always installed with leadscore

    image = Image.open(io.BytesIO(png)).convert("RGB")
    if image.height > MAX_HEIGHT:
        image = image.crop((0, 0, image.width, MAX_HEIGHT))
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    return path.stat().st_size


def take(url: str, keys: dict[str, str], out: Path) -> list[Path]:
    """Each page of :data:`SHOTS` in each language, signed in as the page's role."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            for lang, (locale, zone) in LANGS.items():
                for role in ("sales", "marketing"):
                    context = browser.new_context(
                        locale=locale, timezone_id=zone, viewport={"width": 1400, "height": 900}
                    )
                    try:
                        saved += _shoot(context.new_page(), url, keys[role], role, lang, out)
                    finally:
                        context.close()
        finally:
            browser.close()
    return saved


def _shoot(page: Any, url: str, key: str, role: str, lang: str, out: Path) -> list[Path]:
    """Sign in (the sign-in page also sets the browser's time zone), then each page."""
    page.set_default_timeout(30_000)
    page.goto(f"{url}/ui/login?lang={lang}")
    page.fill("#api_key", key)
    page.click("button[type=submit].primary")
    page.wait_for_load_state()
    if "/ui/login" in page.url:
        raise SystemExit(f"signing in as {role} failed")
    saved = []
    for shot in (s for s in SHOTS if s.role == role):
        response = page.goto(f"{url}{shot.path}?lang={lang}")
        if response is None or response.status != 200:
            raise SystemExit(f"{shot.path}: HTTP {response and response.status}")
        page.wait_for_load_state("networkidle")
        path = out / f"{shot.name}-{lang}.png"
        size = save_png(page.screenshot(full_page=True), path)
        print(f"{path}  {size / 1024:.0f} KB")
        saved.append(path)
    return saved


def _env(home: Path) -> dict[str, str]:
    """The environment of a ``leadscore`` child process: this checkout first, ``home``."""
    env = {**os.environ, "LEADSCORE_HOME": str(home)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


@contextmanager
def fresh_demo(port: int, timeout: float = 1800) -> Iterator[tuple[str, dict[str, str]]]:
    """``leadscore demo --port PORT`` in a new temporary home: ``(url, keys)`` once it
    serves; stopped (as Ctrl+C would) on the way out. Its output is in ``demo.log`` in
    the home, which is kept for a look afterwards."""
    home = Path(tempfile.mkdtemp(prefix="leadscore-screenshots-"))
    log = home / "demo.log"
    url = f"http://127.0.0.1:{port}"
    print(f"leadscore demo --port {port} in LEADSCORE_HOME={home} (output: {log})")
    started = time.monotonic()
    with log.open("w") as out:
        command = [sys.executable, "-m", "cli", "demo", "--port", str(port)]
        demo = subprocess.Popen(command, cwd=ROOT, env=_env(home), stdout=out, stderr=out)
    try:
        while True:
            if demo.poll() is not None:
                raise SystemExit(f"leadscore demo stopped ({demo.returncode}); see {log}")
            if time.monotonic() - started > timeout:
                raise SystemExit(f"leadscore demo did not serve within {timeout:.0f} s")
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(1)
        print(f"the demo serves after {time.monotonic() - started:.0f} s")
        yield url, keys_from_output(log.read_text())
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGINT)
            try:
                demo.wait(timeout=60)
            except subprocess.TimeoutExpired:
                demo.kill()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--demo", action="store_true", help="run a fresh demo for the shots")
    source.add_argument("--keys-from", type=Path, help="a file holding the demo's output")
    source.add_argument("--home", type=Path, help="the demo's LEADSCORE_HOME (makes keys)")
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="a demo serving")
    parser.add_argument("--port", type=int, default=8765, help="the port for --demo")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        raise SystemExit(f"no Chromium at {CHROMIUM} (Debian package chromium)")
    if args.demo:
        with fresh_demo(args.port) as (url, keys):
            score_the_lead(url, keys)
            take(url, keys, args.out)
        return
    url = args.url.rstrip("/")
    keys = (
        keys_from_output(args.keys_from.read_text()) if args.keys_from else keys_in_home(args.home)
    )
    score_the_lead(url, keys)
    take(url, keys, args.out)


if __name__ == "__main__":
    main()
