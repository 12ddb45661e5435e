"""The timing explorer driven once in a real JupyterLab, in headless Debian Chromium (Playwright).

Skipped with a reason where /usr/bin/chromium or Playwright is missing (browsers cannot be
downloaded here: `playwright install` is never used; Playwright drives Debian's chromium)."""

from __future__ import annotations

import io
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
PLOT = ".widget-output .jp-RenderedImage img"
KERNEL_IDLE = re.compile(r"\(ipykernel\) \| Idle$")

pytestmark = [pytest.mark.browser]
if not Path(CHROMIUM).exists():
    pytestmark.append(pytest.mark.skip(reason="Debian chromium not installed (apt-get install chromium)"))
try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover
    pytestmark.append(pytest.mark.skip(reason="playwright (Python) not installed: pip install -e .[test]"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    home = tmp_path_factory.mktemp("jhome")
    nbdir = tmp_path_factory.mktemp("nb")
    shutil.copy(ROOT / "notebooks/02-timing-explorer.ipynb", nbdir)
    for name in ("pyproject.toml", "scenarios", "pipelines"):   # the notebook finds the repo root by pyproject.toml
        (nbdir / name).symlink_to(ROOT / name)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "cfg"), JUPYTER_DATA_DIR=str(home / "data"),
               JUPYTER_RUNTIME_DIR=str(home / "run"), IPYTHONDIR=str(home / "ipy"), MPLCONFIGDIR=str(home / "mpl"))
    settings = home / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    port, token = _free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip", "127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={nbdir}", "--allow-root",
           f"--LabApp.user_settings_dir={home / 'settings'}", f"--LabApp.workspaces_dir={home / 'ws'}"]
    log = open(home / "server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    t0 = time.monotonic()
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=1)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() - t0 > 90:
                    raise RuntimeError(f"jupyter lab did not start; see {home / 'server.log'}") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _wait_plot_settled(page, old_src: str | None, quiet_ms: int = 500) -> None:
    page.wait_for_function("""([sel, old, quiet]) => {
        const i = document.querySelector(sel);
        if (!i || i.src === old || !i.complete || !i.naturalWidth) { window.__plotSrc = null; return false; }
        if (window.__plotSrc !== i.src) { window.__plotSrc = i.src; window.__plotT = performance.now(); return false; }
        return performance.now() - window.__plotT > quiet;
    }""", arg=[PLOT, old_src, quiet_ms], polling=100)


def test_explorer_in_jupyterlab(lab: tuple[str, str], tmp_path: Path) -> None:
    from PIL import Image

    base, token = lab
    expect.set_options(timeout=60_000)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.set_default_timeout(90_000)
            external: list[str] = []
            page.on("request", lambda r: external.append(r.url)
                    if not r.url.startswith(("http://127.0.0.1", "data:", "blob:")) else None)
            page.goto(f"{base}/lab/tree/02-timing-explorer.ipynb?reset&token={token}")
            page.locator(".jp-Notebook .jp-Cell").first.wait_for()
            status = page.locator(".jp-StatusBar-TextItem", has_text="ipykernel")
            expect(status).to_have_text(KERNEL_IDLE)
            page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
            page.locator("li.lm-Menu-item[data-command='runmenu:run-all']:not(.lm-mod-disabled)").click()
            expect(page.locator(".jp-InputPrompt").first).not_to_have_text("[ ]:")

            # Run All is done when every code cell shows an execution count (an idle status bar alone can
            # show between cells); the notebook's last cell puts kill → deploy back to the seed's 5 s
            page.wait_for_function("""() => {
                const p = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(e => e.textContent);
                return p.length > 0 && p.every(t => /\\[\\d+\\]/.test(t));
            }""", polling=200)
            verdict = page.locator(".widget-html", has_text="VERDICT:").first
            expect(verdict).to_contain_text("VERDICT: reproduced")
            expect(status).to_have_text(KERNEL_IDLE)
            # the live panel, not the static note it carries for HTML reports
            expect(page.locator(".repro-explorer-placeholder")).to_have_count(0)
            # every label and button reads whole (ellipsis-cut text is wider than its box) …
            cut = page.evaluate("""() => [...document.querySelectorAll(
                    '.jp-OutputArea .widget-label, .jp-OutputArea .jupyter-button, .jp-OutputArea .widget-label-basic')]
                .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)""")
            assert cut == [], f"labels cut: {cut}"
            # … and so does every option of the fix dropdown, in the select's own font and room
            fix_select = page.locator(".widget-dropdown:has(.widget-label:text-is('fix')) select")
            too_wide = fix_select.evaluate("""s => {
                const cs = getComputedStyle(s), c = document.createElement('canvas').getContext('2d');
                c.font = `${cs.fontStyle} ${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
                const room = s.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
                return [...s.options].filter(o => c.measureText(o.text).width > room)
                    .map(o => `${o.text}: ${c.measureText(o.text).width.toFixed(0)} > ${room}px`);
            }""")
            assert too_wide == [], f"fix options cut: {too_wide}"
            slider = page.locator(".widget-slider", has_text="kill → deploy").first
            expect(slider.locator(".widget-readout")).to_have_text("5")
            page.locator(PLOT).first.wait_for()
            before = page.locator(PLOT).first.get_attribute("src")

            # drag the kill → deploy slider to ~70 % (≈ 630 s, long after the disconnect timeout); the intro's
            # tables push the panel down: the mouse reaches only what is on screen
            slider.scroll_into_view_if_needed()
            base_box = slider.locator(".noUi-base").bounding_box()
            handle = slider.locator(".noUi-handle").bounding_box()
            assert base_box and handle
            page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
            page.mouse.down()
            page.mouse.move(base_box["x"] + 0.7 * base_box["width"], handle["y"] + handle["height"] / 2, steps=8)
            page.mouse.up()

            expect(verdict).to_contain_text("VERDICT: not_reproduced")
            value = float(slider.locator(".widget-readout").inner_text())
            assert 500 < value < 800, value
            expect(status).to_have_text(KERNEL_IDLE)
            _wait_plot_settled(page, before)
            img = page.locator(PLOT).first
            img.evaluate("i => i.decode().then(() => new Promise(r => requestAnimationFrame(() => "
                         "requestAnimationFrame(r))))")
            png = img.screenshot()
            dark = sum(Image.open(io.BytesIO(png)).convert("L").histogram()[:100])
            assert dark > 500, f"plot looks blank ({dark} dark pixels)"
            # Reset: the scenario's values come back and the verdict with them
            page.locator(".widget-button", has_text="Reset").click()
            expect(verdict).to_contain_text("VERDICT: reproduced")
            expect(slider.locator(".widget-readout")).to_have_text("5")
            expect(status).to_have_text(KERNEL_IDLE)

            # 20 edges: the figure switches to counts per state and is not blank
            before = page.locator(PLOT).first.get_attribute("src")
            edges = page.locator(".widget-slider:has(.widget-label:text-is('edges'))").first
            edges.scroll_into_view_if_needed()
            eb = edges.locator(".noUi-base").bounding_box()
            eh = edges.locator(".noUi-handle").bounding_box()
            assert eb and eh
            page.mouse.move(eh["x"] + eh["width"] / 2, eh["y"] + eh["height"] / 2)
            page.mouse.down()
            page.mouse.move(eb["x"] + eb["width"] + 20, eh["y"] + eh["height"] / 2, steps=8)
            t_release = time.monotonic()
            page.mouse.up()
            expect(edges.locator(".widget-readout")).to_have_text("20")
            expect(verdict).to_contain_text("20 execution(s) stuck")
            t_verdict = time.monotonic() - t_release
            expect(status).to_have_text(KERNEL_IDLE)
            _wait_plot_settled(page, before, quiet_ms=300)
            t_plot = time.monotonic() - t_release - 0.3
            print(f"\nbrowser: 20-edge redraw — verdict after {t_verdict:.2f}s, figure settled after {t_plot:.2f}s "
                  "(target 1.5 s)")
            png20 = page.locator(PLOT).first.screenshot()
            dark20 = sum(Image.open(io.BytesIO(png20)).convert("L").histogram()[:100])
            assert dark20 > 500, f"the 20-edge plot looks blank ({dark20} dark pixels)"

            # fix A: nothing changes, and the explanation says why
            page.locator(".widget-dropdown:has(.widget-label:text-is('fix')) select").select_option("block")
            explanation = page.locator(".widget-html", has_text="Fix A").first
            expect(explanation).to_contain_text("cannot act here: the publish succeeded")
            expect(verdict).to_contain_text("VERDICT: reproduced")
            expect(status).to_have_text(KERNEL_IDLE)

            # fix E: its remedy is due after the run; the button says when, whole, and settles until then
            fix_select.select_option("pending-timeout")
            settle = page.locator(".widget-button", has_text="settle until the remedy")
            expect(settle).to_be_visible()
            expect(settle).to_have_text(re.compile(r"settle until the remedy at t=\d+s"))
            assert settle.evaluate("b => b.scrollWidth <= b.clientWidth"), "the settle button's label is cut"
            expect(status).to_have_text(KERNEL_IDLE)
            settle.click()
            expect(verdict).to_contain_text("VERDICT: not_reproduced")
            expect(verdict).to_contain_text(re.compile(r"params\.settle=\d+s "))
            expect(status).to_have_text(KERNEL_IDLE)
            # Export: what it wrote is in the panel, not in the log console
            page.locator(".widget-button", has_text="Export").click()
            exported = page.locator(".widget-html", has_text="Exported to").first
            expect(exported).to_contain_text("timeline.png")
            expect(exported).to_contain_text("repro run scenarios/core-395.yaml --set timings.preset=repro")
            expect(exported).to_contain_text("--set fix=pending-timeout")
            expect(status).to_have_text(KERNEL_IDLE)

            page.locator(".widget-button", has_text="Reset").click()
            expect(edges.locator(".widget-readout")).to_have_text("2")
            expect(verdict).to_contain_text("VERDICT: reproduced — 2 execution(s) stuck")
            page.screenshot(path=str(tmp_path / "explorer.png"))
            shot = os.environ.get("REPRO_BROWSER_SHOT")
            if shot:
                shutil.copy(tmp_path / "explorer.png", shot)
            assert external == [], f"the page reached outside loopback: {external[:5]}"
        finally:
            browser.close()


def test_notebook05_report_shows_each_counterexample_zoomed_in_chromium(tmp_path: Path) -> None:
    """Notebook 05 rendered to offline HTML and opened in headless chromium: every counterexample figure
    is zoomed to its steps (the text above it names a window of seconds, not the hour's settle), decodes
    to a real image that is not blank, and is followed by its settle line."""
    from PIL import Image

    from repro_lib.report import render_report

    rep = render_report(ROOT / "notebooks/05-what-breaks-a-fix.ipynb", tmp_path / "report", cwd=ROOT,
                        parameters={"FIXES": "none,edge-reconcile", "RUNS": 50,
                                    "OUT": str(tmp_path / "found")})
    expect.set_options(timeout=30_000)
    window = re.compile(r"Zoomed to the steps: t = ([\d.]+)–([\d.]+) s")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            external: list[str] = []
            page.on("request", lambda r: external.append(r.url)
                    if not r.url.startswith(("file://", "data:", "blob:")) else None)
            page.goto(rep.html.as_uri())
            expect(page.locator("body")).to_contain_text("checks passed")
            # each "Zoomed to the steps" text, the first image after it and the text after that image
            pairs = page.evaluate("""() => {
                const outs = [...document.querySelectorAll('.jp-OutputArea-output')];
                const found = [];
                outs.forEach((o, i) => {
                    if (!o.innerText.includes('Zoomed to the steps: t =')) return;
                    const j = outs.findIndex((x, k) => k > i && x.querySelector('img'));
                    if (j < 0) return;
                    const img = outs[j].querySelector('img');
                    img.setAttribute('data-zoom', String(found.length));
                    found.push({text: o.innerText, after: (outs[j + 1] || {innerText: ''}).innerText});
                });
                return found;
            }""")
            heads = page.locator(".jp-RenderedMarkdown h3").all_inner_texts()
            assert len(pairs) == 2 == len([h for h in heads if " fails " in h]), (pairs, heads)
            for i, pair in enumerate(pairs):
                m = window.search(pair["text"])
                assert m, pair["text"]
                lo, hi = float(m.group(1)), float(m.group(2))
                assert 0 <= lo < hi < 60, (lo, hi)  # the steps, seconds wide, not the settle's hour
                assert "outside the zoomed window" in pair["text"] or "inside the zoomed window" in pair["text"]
                assert pair["after"].startswith("Then settled"), pair["after"]
                img = page.locator(f"img[data-zoom='{i}']")
                img.evaluate("i => i.decode().then(() => new Promise(r => requestAnimationFrame(() => "
                             "requestAnimationFrame(r))))")
                w, h = img.evaluate("i => [i.naturalWidth, i.naturalHeight]")
                assert w >= 800 and h >= 400, (w, h)
                shot = Image.open(io.BytesIO(img.screenshot()))
                dark = sum(shot.convert("L").histogram()[:100])
                # lanes are coloured; a figure of empty panels (frames, ticks, titles, legend) is ~0.2 % colour
                saturation = shot.convert("RGB").convert("HSV").getchannel("S").histogram()
                colour = sum(saturation[80:]) / (shot.width * shot.height)
                assert colour > 0.02 and dark > 500, f"figure {i} looks blank ({colour:.1%} colour, {dark} dark)"
            page.screenshot(path=str(tmp_path / "nb05.png"), full_page=False)
            assert external == [], f"the report reached outside the file: {external[:5]}"
        finally:
            browser.close()
