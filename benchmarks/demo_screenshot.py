"""The product-page picture at the top of the README and the docs, from a running `make demo` (real
embeddings, styled images, reviews), signed in as demo_alice:

    .venv/bin/python benchmarks/demo_screenshot.py http://127.0.0.1:8000 /p/<id>/ out.png

Chromium from Debian through Playwright (no browser download); Chinese text needs a CJK font
(`apt-get install fonts-noto-cjk`). The page is opened twice: the styled images its first view
asks for are drawn by the demo's worker in between."""

import sys

from PIL import Image
from playwright.sync_api import sync_playwright

from stylerec.lab.browser import CHROMIUM, CHROMIUM_ARGS

KEEP_PX = 2500  # the product and its three blocks


def main(base: str, path: str, out: str) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(base + "/login/")
        page.fill("input[name=username]", "demo_alice")
        page.fill("input[name=password]", "demo-pass-123")
        page.click("button[type=submit], input[type=submit]")
        page.wait_for_load_state("networkidle")
        for _view in range(2):  # the second view shows the styled images the first asked for
            page.goto(base + path, wait_until="networkidle")
        for _step in range(10):  # lazy photos load as they come into view
            page.mouse.wheel(0, 400)
            page.wait_for_timeout(150)
        page.wait_for_load_state("networkidle")
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(300)
        page.screenshot(path=out, full_page=True)
        browser.close()
    with Image.open(out) as shot:
        shot.crop((0, 0, shot.width, min(shot.height, KEEP_PX))).save(out)


if __name__ == "__main__":
    main(*sys.argv[1:4])
