"""The step-through page in a real browser: Debian's headless Chromium, driven by Selenium.

On a 1280×800 screen, for the derivation's CNN (models/two_layer_cnn.py, as `tinygraph-draw
--steps` draws it): every frame renders; next/previous, ← → and `#step=N` move between frames;
the close-up shows the running op with all of its inputs and its output whole, with text ≥ 14 px;
the whole-graph view fits the screen with text ≥ 10 px; `--lecture` makes the page's type larger;
the page logs no console error and asks for no URL outside itself; and without Graphviz's `dot`
the same page, laid out by Graphviz in WebAssembly, renders too. A handful of page loads in all.

Chromium and chromedriver come from Debian (tools/install_browser.sh, run by `make test`); where
they are missing the tests are skipped, saying why.

    python tests/test_browser.py docs/    # the README's screenshots of a frame and of the whole graph
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
try:
    import selenium  # noqa: F401
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.keys import Keys
except ImportError:      # pragma: no cover - the test extra brings it
    webdriver = None

WIDTH, HEIGHT = 1280, 800
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
         f"--window-size={WIDTH},{HEIGHT}"]
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER and webdriver),
    reason="needs Chromium and chromedriver (Debian: apt-get install chromium chromium-driver, or "
           "sh tools/install_browser.sh) and selenium (pip install '.[test]')")

# Every <text> of the shown view: its rendered font size in px, and its box on the screen.
MEASURE = """
var view = document.querySelector('.frame:not([hidden]) .view.' + arguments[0]), out = [];
var texts = view ? view.querySelectorAll('svg text') : [];
for (var k = 0; k < texts.length; k++) {
  var r = texts[k].getBoundingClientRect();
  var px = parseFloat(texts[k].getAttribute('font-size')) * texts[k].getScreenCTM().a;
  out.push({px: px, height: r.height, left: r.left, top: r.top, right: r.right, bottom: r.bottom,
            text: texts[k].textContent});
}
var nodes = view ? view.querySelectorAll('svg g.node') : [], boxes = [];
for (var k = 0; k < nodes.length; k++) {
  var r = nodes[k].getBoundingClientRect();
  boxes.push({id: nodes[k].querySelector('title').textContent, left: r.left, top: r.top, right: r.right,
              bottom: r.bottom});
}
return {texts: out, nodes: boxes, focus: view ? view.parentNode.dataset.focus.split(' ') : []};
"""


def start_browser(user_data: str):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS + [f"--user-data-dir={user_data}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False})
    return driver


def make_pages(where: Path) -> dict[str, Path]:
    """The derivation CNN's step page as `tinygraph-draw --steps` writes it, with `dot`, with
    --lecture, and without `dot` (PATH hidden: laid out in the browser)."""
    from tinygraph.cli.draw import main

    pages = {}
    for name, extra, hide_dot in (("plain", [], False), ("lecture", ["--lecture"], False), ("wasm", [], True)):
        page = where / f"{name}.html"
        with contextlib.ExitStack() as stack:
            if hide_dot:
                mp = stack.enter_context(pytest.MonkeyPatch.context())
                mp.setenv("PATH", os.pathsep.join(d for d in os.environ.get("PATH", "").split(os.pathsep)
                                                  if d and not Path(d, "dot").exists()))
            elif shutil.which("dot") is None:
                continue
            with contextlib.redirect_stdout(sys.stderr):
                status = main(["--steps", str(page), "--out", str(where / f"{name}.dot")] + extra)
            assert status in (0, 2) and page.exists()
        pages[name] = page
    return pages


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    return make_pages(tmp_path_factory.mktemp("pages"))


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = start_browser(str(tmp_path_factory.mktemp("chromium-profile")))
    yield driver
    driver.quit()


def wait_shown(driver, frame: int, mode: str = "close", timeout: float = 30.0) -> None:
    """Until the page says frame `frame` is drawn in `mode` (WebAssembly layout takes a moment)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if driver.execute_script("return document.body.getAttribute('data-shown')") == f"{frame} {mode}":
            return
        time.sleep(0.05)
    raise AssertionError(f"frame {frame} ({mode}) was not drawn within {timeout} s; the page shows "
                         f"{driver.execute_script('return document.body.getAttribute(arguments[0])', 'data-shown')}")


def open_page(driver, page: Path, step: int | None = None) -> None:
    """A fresh load of `page` (the same page with another #step would only change the hash)."""
    driver.get("about:blank")
    driver.get(page.as_uri() + (f"#step={step}" if step else ""))
    wait_shown(driver, step or 1)


def set_mode(driver, mode: str, frame: int) -> None:
    driver.execute_script("var m = document.getElementById('mode'); m.value = arguments[0]; "
                          "m.dispatchEvent(new Event('change'));", mode)
    wait_shown(driver, frame, mode)


def frame_count(driver) -> int:
    return driver.execute_script("return document.querySelectorAll('.frame').length")


def check_close_up(driver, frame: int, min_px: float = 14.0) -> float:
    """The running op, each input and its output drawn whole on the screen, text ≥ min_px."""
    seen = driver.execute_script(MEASURE, "close")
    assert seen["texts"], f"frame {frame}: nothing drawn"
    assert {n["id"] for n in seen["nodes"]} == set(seen["focus"]), f"frame {frame}"
    for box in seen["nodes"] + seen["texts"]:
        assert box["left"] >= -0.5 and box["top"] >= -0.5 and box["right"] <= WIDTH + 0.5 \
            and box["bottom"] <= HEIGHT + 0.5, f"frame {frame}: {box} is not whole on a {WIDTH}×{HEIGHT} screen"
    smallest = min(seen["texts"], key=lambda t: t["px"])
    assert smallest["px"] >= min_px and smallest["height"] >= min_px, \
        f"frame {frame}: {smallest['text']!r} is {smallest['px']:.1f} px"
    return smallest["px"]


def console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def requested_urls(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


# ----------------------------------------------------------------------------- the tests
def test_every_frame_renders_whole_with_text_of_at_least_14_px(browser, pages):
    if "plain" not in pages:
        pytest.skip("Graphviz `dot` is not installed (the page without it is tested below)")
    open_page(browser, pages["plain"])
    frames = frame_count(browser)
    assert frames == 6                      # the CNN's rules: softmax_xent, linear, reshape, maxpool, relu, conv2d
    sizes = []
    for frame in range(1, frames + 1):
        browser.execute_script("location.hash = '#step=' + arguments[0];", frame)
        wait_shown(browser, frame)
        sizes.append(check_close_up(browser, frame))
    print(f"close-up: smallest text per frame {[round(s, 1) for s in sizes]} px")
    assert console_errors(browser) == []


def test_buttons_arrow_keys_and_step_links_move_between_frames(browser, pages):
    page = pages.get("plain") or pages["wasm"]
    open_page(browser, page, step=4)                        # a link straight to a frame
    assert browser.find_element("id", "counter").text == "frame 4 of 6"
    browser.find_element("id", "next").click()
    wait_shown(browser, 5)
    body = browser.find_element("tag name", "body")
    body.send_keys(Keys.ARROW_RIGHT)
    wait_shown(browser, 6)
    body.send_keys(Keys.ARROW_RIGHT)                        # the last frame stays the last
    wait_shown(browser, 6)
    body.send_keys(Keys.ARROW_LEFT)
    wait_shown(browser, 5)
    browser.find_element("id", "prev").click()
    wait_shown(browser, 4)
    assert browser.current_url.endswith("#step=4")
    assert [f.is_displayed() for f in browser.find_elements("css selector", ".frame")] == \
        [False, False, False, True, False, False]
    assert console_errors(browser) == []


def test_the_whole_graph_fits_the_screen_with_text_of_at_least_10_px(browser, pages):
    if "plain" not in pages:
        pytest.skip("Graphviz `dot` is not installed")
    open_page(browser, pages["plain"], step=3)
    set_mode(browser, "whole", 3)
    seen = browser.execute_script(MEASURE, "whole")
    assert len(seen["nodes"]) >= 20                          # every tensor and op of the CNN, and row links
    for box in seen["nodes"]:
        assert box["left"] >= 0 and box["right"] <= WIDTH and box["top"] >= 0 and box["bottom"] <= HEIGHT, box
    smallest = min(t["px"] for t in seen["texts"])
    print(f"whole graph: smallest text {smallest:.1f} px")
    assert smallest >= 10
    # The full drawing opens scrolled to the running op, not at the far left.
    set_mode(browser, "full", 3)
    seen = browser.execute_script(MEASURE, "full")
    running = next(n for n in seen["nodes"] if n["id"] == seen["focus"][0])
    assert 0 <= running["left"] and running["right"] <= WIDTH and 0 <= running["top"] <= HEIGHT, running
    assert console_errors(browser) == []


def test_lecture_makes_the_page_and_its_drawings_larger(browser, pages):
    if "lecture" not in pages:
        pytest.skip("Graphviz `dot` is not installed")
    sizes = {}
    for name in ("plain", "lecture"):
        open_page(browser, pages[name], step=2)
        caption = browser.execute_script(
            "return parseFloat(getComputedStyle(document.querySelector('.frame:not([hidden]) .caption')).fontSize)")
        sizes[name] = (caption, check_close_up(browser, 2))
    assert sizes["lecture"][0] >= 1.3 * sizes["plain"][0]          # the page's own type
    assert sizes["lecture"][1] >= 1.2 * sizes["plain"][1]          # the drawing's type


def test_without_dot_the_page_draws_itself_in_webassembly(browser, pages):
    open_page(browser, pages["wasm"])
    frames = frame_count(browser)
    assert frames == 6
    for frame in (1, frames):
        browser.execute_script("location.hash = '#step=' + arguments[0];", frame)
        wait_shown(browser, frame)
        check_close_up(browser, frame)
    set_mode(browser, "whole", frames)
    assert min(t["px"] for t in browser.execute_script(MEASURE, "whole")["texts"]) >= 10
    assert console_errors(browser) == []


def test_a_notebook_drawing_without_dot_draws_itself_in_webassembly(browser, tmp_path):
    """What Jupyter shows for tg.draw(...) where `dot` is missing: an iframe that lays the DOT out."""
    import html
    import re

    import numpy as np

    import tinygraph as tg
    from tinygraph.drawing.browser import notebook_html

    x = tg.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True, name="x")
    L = (x.relu() * x).sum().named("L")
    with tg.record_backward() as recording:
        L.backward()
    inner = re.fullmatch(r'<iframe srcdoc="(.*?)" style=.*', notebook_html(tg.draw(L, recording=recording).source),
                         flags=re.S).group(1)
    page = tmp_path / "cell.html"
    page.write_text(html.unescape(inner), encoding="utf-8")
    browser.get(page.as_uri())
    end = time.monotonic() + 30
    while time.monotonic() < end and not browser.execute_script("return document.querySelectorAll('svg g.node').length"):
        time.sleep(0.05)
    titles = browser.execute_script("return Array.from(document.querySelectorAll('svg g.node > title'), t => t.textContent)")
    assert {"legend", "T0"} <= set(titles) and len(titles) >= 6        # x, relu, mul, sum, ..., the legend
    assert console_errors(browser) == []


def test_no_url_outside_the_page_was_asked_for(browser, pages):
    """Runs after the others in this module: every request any page made is the page itself or data."""
    urls = requested_urls(browser)
    assert any(u.startswith("file://") and u.endswith(".html") for u in urls), "the log saw no page load"
    # (Chromium's own chrome:// pages of a fresh profile are not the page's doing, and not network.)
    outside = [u for u in urls if not u.startswith(("file://", "data:", "about:", "blob:", "chrome://"))]
    assert outside == []


# ----------------------------------------------------------------------------- screenshots
def screenshots(docs: Path) -> None:
    """The README's pictures: frame 4 of the trained CNN's page (what `make demo` writes, also
    saved as docs/backprop_steps.html), close up and as the whole graph, at 1280×800."""
    from tinygraph.cli import draw, train

    with tempfile.TemporaryDirectory() as where:
        checkpoint, page = str(Path(where) / "ckpt.npz"), docs / "backprop_steps.html"
        assert train.main(["--model", "two_layer_cnn", "--out", checkpoint]) == 0
        assert draw.main(["--checkpoint", checkpoint, "--out", str(Path(where) / "b.svg"), "--steps", str(page)]) == 0
        driver = start_browser(str(Path(where) / "profile"))
        try:
            open_page(driver, page, step=4)
            driver.save_screenshot(str(docs / "backprop_step_closeup.png"))
            set_mode(driver, "whole", 4)
            driver.save_screenshot(str(docs / "backprop_step_whole.png"))
        finally:
            driver.quit()


if __name__ == "__main__":
    screenshots(Path(sys.argv[1] if len(sys.argv) > 1 else "docs").resolve())
