"""The study report in a real headless browser (Debian's chromium): it loads, logs no console error,
and every figure decodes. A full-page screenshot is saved to test-artifacts/report.png."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ARTIFACTS = Path(os.environ.get("PLATONIC_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))


def _browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromedriver are required in CI (scripts/setup.sh installs them as root)")
        pytest.skip("chromium/chromedriver not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.mark.browser
def test_report_opens_offline_without_errors_and_every_figure_renders(tiny_study):
    result, _ = tiny_study
    report = result.out / "report.html"
    assert "http://" not in report.read_text() and "https://" not in report.read_text(), "the report fetches something"
    driver = _browser()
    try:
        driver.get(report.as_uri())
        assert driver.title == "platonic study report"
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight])")
        assert len(images) >= 5, images
        broken = [alt for alt, complete, width, height in images if not (complete and width > 100 and height > 100)]
        assert not broken, f"figures that did not render: {broken}"
        sections = driver.execute_script("return Array.from(document.querySelectorAll('section h2')).map(h => h.textContent)")
        assert any("unified space" in s for s in sections) and any("K sweep" in s for s in sections)
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert not errors, errors
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(1280, min(int(height) + 100, 16000))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(ARTIFACTS / "report.png"))
    finally:
        driver.quit()
