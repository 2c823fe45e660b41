"""End to end in headless Chromium (Debian's chromium + chromium-driver, driven by Selenium): draw a
"1" with pointer events, step the convolution, read resnet18's MACs in the explorer, watch a run.

The server runs in a thread of this process on a free loopback port and is stopped at the end.
Screenshots of each view go to $CNNLAB_SCREENSHOTS (docs/img when the README's pictures are
refreshed) or to the test's temporary folder. The stroke -> picture latency is printed (pytest -s)
with its phases in the test's temporary latency.json.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import pytest
from conftest import stroke_png

from cnnlab.serve import start

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
    "--force-device-scale-factor=1",
]


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).is_file():
            return f"{path} is missing (Debian packages chromium and chromium-driver; .ci/run installs them)"
    return None


@pytest.fixture(scope="module")
def server(demo_run):
    with start([], demo_dir=demo_run.path) as running:
        yield running
    assert not running.thread.is_alive()


@pytest.fixture(scope="module")
def browser():
    reason = _missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run in CI: {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="cnnlab-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    out = Path(os.environ.get("CNNLAB_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    out.mkdir(parents=True, exist_ok=True)
    return out


def wait_for(driver, script: str, timeout: float = 60.0, what: str = ""):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or script}")


def open_view(driver, server, view: str) -> None:
    """A fresh page at ``#view`` (a hash change alone would keep the previous test's page)."""
    driver.get("about:blank")
    driver.get(f"{server.url}#{view}")


def stroke(driver, points, pointer: str = "mouse") -> None:
    """A stroke through ``points`` (pixels from the pad's centre) with W3C pointer actions."""
    from selenium.webdriver.common.actions import interaction
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput
    from selenium.webdriver.common.by import By

    pad = driver.find_element(By.ID, "pad")
    kind = interaction.POINTER_TOUCH if pointer == "touch" else interaction.POINTER_MOUSE
    actions = ActionBuilder(driver, mouse=PointerInput(kind, pointer), duration=10)
    (x0, y0), rest = points[0], points[1:]
    actions.pointer_action.move_to(pad, x0, y0).pointer_down()
    for x, y in rest:
        actions.pointer_action.move_to(pad, x, y)
    actions.pointer_action.pointer_up()
    actions.perform()


def screenshot(driver, path: Path, max_height: int = 2000) -> None:
    """The whole page (up to ``max_height`` pixels) from the top, then back to the usual window."""
    driver.execute_script("window.scrollTo(0, 0)")
    height = min(max_height, driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(1400, max(1000, height + 140))  # + the browser's own frame
    time.sleep(0.3)
    driver.save_screenshot(str(path))
    driver.set_window_size(1400, 1000)


ONE = [(4, -95), (3, -40), (1, 20), (0, 60), (-2, 95)]

NONBLANK = """
return Array.from(document.querySelectorAll(arguments[0])).map((img) => {
  const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext('2d'); g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  const seen = new Set();
  for (let i = 0; i < d.length; i += 4) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
  return [img.dataset.layer || img.id, c.width, c.height, seen.size];
});
"""


def test_draw_a_one_and_see_inside_the_network(server, browser, shots, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    open_view(browser, server, "draw")
    wait_for(browser, "return window.cnnlab && window.cnnlab.ready", what="a trained run")
    wait_for(browser, "return document.querySelectorAll('#draw-run option').length", what="the run list")
    stroke(browser, ONE)
    wait_for(browser, "return window.cnnlab.timings.length >= 1", what="the first prediction")
    assert browser.find_element(By.ID, "prediction").text == "1"
    top5 = browser.find_elements(By.CSS_SELECTOR, "#top5 li")
    assert len(top5) == 5 and top5[0].text.split()[0] == "1"
    maps = browser.execute_script(NONBLANK, "#layers img")
    names = [m[0] for m in maps]
    assert {"features.c1", "features.s2", "features.c3", "features.s4", "output"} <= set(names)
    for name, w, h, colours in maps:
        assert w > 0 and h > 0 and colours > 1, f"feature map of {name} is blank"
    (inp, cam) = browser.execute_script(NONBLANK, "#net-input, #gradcam")
    assert inp[1:3] == [28, 28] and inp[3] > 1 and cam[3] > 10

    # more strokes: clear, draw, time each stroke -> picture (mouse, then a finger)
    for i in range(6):
        browser.find_element(By.ID, "pad-clear").click()
        stroke(browser, [(x + 3 * i - 8, y) for x, y in ONE], pointer="touch" if i % 2 else "mouse")
        wait_for(browser, f"return window.cnnlab.timings.length >= {i + 2}", what=f"prediction {i + 2}")
        assert browser.find_element(By.ID, "prediction").text == "1"
    timings = browser.execute_script("return window.cnnlab.timings")
    server_ms = browser.execute_script("return window.cnnlab.serverTimings")
    later = timings[1:]  # the first includes loading the model
    report = {
        "stroke_to_picture_ms": [round(t, 1) for t in timings],
        "median_ms": round(statistics.median(later), 1),
        "min_ms": round(min(later), 1),
        "server_ms": [round(t, 1) for t in server_ms],
        "server_median_ms": round(statistics.median(server_ms[1:]), 1),
        "phases_ms": browser.execute_script("return window.cnnlab.phases"),
        "load_average": os.getloadavg(),
        "cores": os.cpu_count(),
    }
    (tmp_path / "latency.json").write_text(json.dumps(report, indent=1) + "\n")
    print(
        f"\nstroke -> picture (LeNet-5, headless Chromium): median {report['median_ms']} ms, "
        f"min {report['min_ms']} ms (server median {report['server_median_ms']} ms), "
        f"load average {report['load_average'][0]:.1f} on {report['cores']} cores"
    )
    assert all(t > 0 for t in timings)
    # the target is < 100 ms on a quiet machine; 500 ms still catches a stall such as canvas.toBlob's
    # wait for an idle moment (about 1 s per stroke on a busy machine before the pad encoded itself)
    assert report["median_ms"] < 500, report
    screenshot(browser, shots / "serve-draw.png")

    # an image file through the upload field, then the drawn digit as the playground's input
    file = tmp_path / "one.png"
    file.write_bytes(stroke_png(points=((150, 50), (130, 230))))
    n = len(timings)
    browser.execute_script("document.getElementById('upload').hidden = false")
    browser.find_element(By.ID, "upload").send_keys(str(file))
    wait_for(browser, f"return window.cnnlab.timings.length > {n}", what="the uploaded image's prediction")
    assert browser.find_element(By.ID, "prediction").text == "1"
    browser.find_element(By.CSS_SELECTOR, "nav a[data-view='conv']").click()
    wait_for(browser, "return document.querySelectorAll('#conv-input option').length > 3", what="the presets")
    Select(browser.find_element(By.ID, "conv-input")).select_by_value("drawn")
    wait_for(
        browser,
        "return document.getElementById('conv-input-caption').textContent.startsWith('input 28x28')",
        what="the drawn digit in the playground",
    )


def test_the_convolution_steps_window_by_window(server, browser, shots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    open_view(browser, server, "conv")
    wait_for(browser, "return document.querySelectorAll('#conv-input option').length > 3", what="the presets")
    wait_for(browser, "return document.getElementById('conv-counter').textContent.includes('/ 4')", what="the example")
    step = browser.find_element(By.ID, "conv-step")
    step.click()
    assert browser.find_element(By.ID, "conv-sum").text == "out[0, 0] = 0x0 + 1x1 + 3x2 + 4x3 = 19"
    step.click()
    assert browser.find_element(By.ID, "conv-sum").text == "out[0, 1] = 1x0 + 2x1 + 4x2 + 5x3 = 25"
    assert "window 2 / 4" in browser.find_element(By.ID, "conv-counter").text
    assert "(3 - 2 + 2x0)/1 + 1 = 2" in browser.find_element(By.ID, "conv-formula").text
    screenshot(browser, shots / "serve-conv.png")

    Select(browser.find_element(By.ID, "conv-input")).select_by_value("stride")  # lecture 000: 7x7, 3x3, stride 3
    wait_for(browser, "return !document.getElementById('conv-fit').hidden", what="the stride warning")
    fit = browser.find_element(By.ID, "conv-fit").text
    assert "(7 - 3 + 2x0)/3 + 1 = 2.33333 -> floor -> 2" in fit and "does not fit" in fit
    browser.find_element(By.ID, "conv-all").click()
    assert "window 4 / 4" in browser.find_element(By.ID, "conv-counter").text
    assert browser.find_element(By.ID, "conv-sum").text.endswith("= 32")  # the mean of rows 3-5, cols 3-5: 288 / 9
    screenshot(browser, shots / "serve-conv-stride.png")


def test_model_explorer_reads_resnet18(server, browser, shots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    open_view(browser, server, "models")
    wait_for(browser, "return document.getElementById('ex-total-macs')", what="the first summary")
    Select(browser.find_element(By.ID, "ex-model")).select_by_value("resnet18")
    wait_for(
        browser,
        "const e = document.getElementById('ex-total-macs'); return e && e.textContent === '1,814,073,344'",
        timeout=120,
        what="resnet18's MACs",
    )
    assert browser.find_element(By.ID, "ex-total-params").text == "11,689,512"
    rows = browser.find_elements(By.CSS_SELECTOR, "#ex-table tbody tr")
    assert len(rows) > 50
    browser.find_element(By.CSS_SELECTOR, "#ex-table th[data-key='macs']").click()
    macs = [
        int(r.replace(",", ""))
        for r in browser.execute_script(
            "return Array.from(document.querySelectorAll('#ex-table tbody tr')).map(r => r.children[7].textContent)"
        )
    ]
    assert macs == sorted(macs, reverse=True) and macs[0] == 64 * 112 * 112 * 3 * 7 * 7  # conv1, 7x7 on 3 channels
    for chart in ("params", "macs", "memory"):
        assert len(browser.find_elements(By.CSS_SELECTOR, f"#ex-chart-{chart} rect.bar")) > 10
    assert browser.find_elements(By.CSS_SELECTOR, "#ex-chart-rf polyline")
    browser.find_element(By.ID, "cmp-show").click()
    wait_for(
        browser,
        "return document.querySelectorAll('#cmp-table tbody tr').length === 4",
        timeout=120,
        what="the comparison",
    )
    screenshot(browser, shots / "serve-explorer.png")


def test_training_monitor_shows_the_runs_curves(server, browser, shots, demo_run):
    from selenium.webdriver.common.by import By

    open_view(browser, server, "runs")
    wait_for(browser, "return document.querySelectorAll('#runs-table tbody tr').length", what="the run list")
    first = browser.find_element(By.CSS_SELECTOR, "#runs-table tbody tr").text
    epochs = demo_run.overrides["epochs"]
    assert first.startswith(f"demo lenet5 mnist-sample {epochs} / {epochs}"), first
    wait_for(browser, "return document.querySelectorAll('#run-chart-loss polyline').length === 2", what="loss curves")
    wait_for(
        browser,
        "const i = document.querySelector('#run-pictures img'); return i && i.complete && i.naturalWidth",
        what="curves.png",
    )
    screenshot(browser, shots / "serve-monitor.png")
