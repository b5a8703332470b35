"""The page in a real browser: Debian's Chromium, headless, driven by Playwright (which
downloads no browser here). Upload a CT, wait, and look at what the viewer drew; then the
on-device mode, where both networks run in the page with onnxruntime-web."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from livseg.infer import CascadeSettings
from livseg.serve import ServeSettings, create_app
from livseg.serve.app import STATIC

from ..conftest import skip_or_fail
from .conftest import serving

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not (STATIC / "vendor" / "niivue.umd.js").is_file():
        skip_or_fail("the page's libraries are not vendored (make setup runs "
                     "tools/vendor_web.py)")
    with serving(create_app(ServeSettings(jobs_dir=tmp_path_factory.mktemp("jobs")))) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright import sync_api

    if not Path(CHROMIUM).is_file():
        skip_or_fail("Debian's chromium is not installed (make setup installs it)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
            "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-sync"])
        yield launched
        launched.close()


def _green_pixels(png: bytes) -> int:
    from io import BytesIO

    from PIL import Image

    rgb = np.asarray(Image.open(BytesIO(png)).convert("RGB")).astype(int)
    return int(((rgb[..., 1] > 120) & (rgb[..., 1] > rgb[..., 0] + 60)
                & (rgb[..., 1] > rgb[..., 2] + 60)).sum())


def test_upload_shows_the_overlay_and_the_lesion_table(server, browser, ct_file, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server)
    assert _green_pixels(page.locator("#gl").screenshot()) == 0  # nothing drawn yet
    page.set_input_files("#file", str(ct_file))
    page.wait_for_function("['shown', 'failed', 'refused'].includes(window.livseg.state)",
                           timeout=120_000)
    assert page.evaluate("window.livseg.state") == "shown", page.inner_text("#message")
    assert page.evaluate("window.livseg.nv.volumes.length") == 2
    rows = page.locator("#lesions tbody tr")
    assert rows.count() >= 1
    time.sleep(0.5)
    assert _green_pixels(page.locator("#gl").screenshot()) > 500  # the liver overlay
    rows.first.click()
    assert page.evaluate("window.livseg.jumped") is not None
    assert page.locator("#downloads a").count() >= 3
    page.screenshot(path=str(tmp_path / "page.png"))
    assert not errors


def test_the_compare_view_follows_the_lesions_of_two_uploads(server, browser, ct_file):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server)
    assert page.locator("#compare-run").is_disabled()
    page.set_input_files("#compare-baseline", str(ct_file))
    page.set_input_files("#compare-followup", str(ct_file))
    page.click("#compare-run")
    page.wait_for_function("['done', 'failed', 'refused'].includes(window.livseg.compare)",
                           timeout=180_000)
    summary = page.inner_text("#compare-summary")
    assert page.evaluate("window.livseg.compare") == "done", summary
    assert "RECIST 1.1" in summary and "not a diagnosis" in summary
    rows = page.locator("#tracks tbody tr")
    assert rows.count() >= 1 and "stable" in rows.first.inner_text()  # the same CT twice
    page.wait_for_function("document.getElementById('comparison-picture').naturalWidth > 0")
    assert not errors


def test_the_first_screen_tells_a_newcomer_what_to_do_and_runs_the_example(server, browser,
                                                                          tmp_path):
    from io import BytesIO

    from PIL import Image

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server)
    welcome = page.locator("#welcome")
    assert welcome.is_visible() and page.locator("#example").is_visible()
    assert "Give it a CT" in welcome.inner_text() and "example" in welcome.inner_text()
    page.screenshot(path=str(tmp_path / "first_screen.png"))
    shot = np.asarray(Image.open(BytesIO(page.locator("#canvas-box").screenshot())).convert("L"))
    assert shot.mean() > 200, "the viewer's place shows the empty black canvas, not the steps"
    assert shot.std() > 10, "the steps' text is missing from the first screen"
    page.click("#example")
    page.wait_for_function("['shown', 'failed', 'refused'].includes(window.livseg.state)",
                           timeout=120_000)
    assert page.evaluate("window.livseg.state") == "shown", page.inner_text("#message")
    assert not welcome.is_visible()
    assert "liver" in page.inner_text("#summary")
    time.sleep(0.5)
    assert _green_pixels(page.locator("#gl").screenshot()) > 500
    assert not errors


def test_on_device_mode_segments_in_the_browser_and_reports_its_time(server, browser, ct_file):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    uploads = []
    page.on("request", lambda r: uploads.append(r.url) if r.method == "POST" else None)
    page.goto(server)
    page.check("#ondevice")
    page.set_input_files("#file", str(ct_file))
    page.wait_for_function("window.livseg.state === 'on-device done'", timeout=120_000)
    result = page.evaluate("window.livseg.onDevice")
    assert result["slices"] == 10 and result["liverVoxels"] > 0
    assert result["tumourPasses"] == 2  # the tumour stage and its left-right flip, as --tta
    assert 0 <= result["tumourVoxels"] < result["liverVoxels"]
    assert result["lesions"] >= 0 and (result["lesions"] == 0) == (result["tumourVoxels"] == 0)
    if result["lesions"]:  # the server's size rule held in the page
        assert result["smallestLesionMm3"] >= CascadeSettings().min_lesion_mm3
    assert result["networkMsPerSlice"] > 0
    assert "ms per slice" in page.inner_text("#message")
    assert not uploads  # the CT never left the page
    assert _green_pixels(page.locator("#gl").screenshot()) > 500


def test_without_its_libraries_the_page_says_so_and_shows_the_picture(browser, ct_file,
                                                                      tmp_path, monkeypatch):
    """A server whose vendored libraries are missing (a checkout where npm could not run):
    the page tells the user, turns on-device mode off, and shows the overlay picture and
    the report instead of the viewer."""
    bare = tmp_path / "static"
    shutil.copytree(STATIC, bare, ignore=shutil.ignore_patterns("vendor"))
    monkeypatch.setattr("livseg.serve.app.STATIC", bare)
    with serving(create_app(ServeSettings(jobs_dir=tmp_path / "jobs"))) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url)
        assert page.locator("#notice").is_visible()
        assert "missing" in page.inner_text("#notice")
        assert page.locator("#ondevice").is_disabled()
        page.set_input_files("#file", str(ct_file))
        page.wait_for_function("['shown', 'failed', 'refused'].includes(window.livseg.state)",
                               timeout=120_000)
        assert page.evaluate("window.livseg.state") == "shown", page.inner_text("#message")
        page.wait_for_function("document.querySelector('#picture').naturalWidth > 0")
        assert "liver" in page.inner_text("#summary")
        assert not errors
