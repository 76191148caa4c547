"""The product-page picture at the top of the README and the docs, taken from a running `make demo`
(real embeddings, styled images, reviews), signed in as demo_alice:

    .venv/bin/python benchmarks/demo_screenshot.py http://127.0.0.1:8000 /p/<id>/ docs/screenshots/product_page.png

Chromium from Debian through Playwright (no browser download); Chinese text needs a CJK font
(`apt-get install fonts-noto-cjk`). The page is opened twice: the styled images its first view
asks for are drawn by the demo's worker in between."""

import sys

from playwright.sync_api import sync_playwright

base, path, out = sys.argv[1], sys.argv[2], sys.argv[3]
with sync_playwright() as p:
    b = p.chromium.launch(
        executable_path="/usr/bin/chromium",
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    )
    page = b.new_page(viewport={"width": 1280, "height": 900})
    page.goto(base + "/login/")
    page.fill("input[name=username]", "demo_alice")
    page.fill("input[name=password]", "demo-pass-123")
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_load_state("networkidle")
    page.goto(base + path, wait_until="networkidle")
    page.goto(
        base + path, wait_until="networkidle"
    )  # the second view: styled images asked for by the first are drawn
    for y in range(0, 4000, 400):  # lazy photos load as they come into view
        page.mouse.wheel(0, 400)
        page.wait_for_timeout(150)
    page.wait_for_load_state("networkidle")
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(300)
    page.screenshot(path=out, full_page=True)
    b.close()
    from PIL import Image  # the first 2,500 px: the product and its three blocks

    with Image.open(out) as shot:
        shot.crop((0, 0, shot.width, min(shot.height, 2500))).save(out)
