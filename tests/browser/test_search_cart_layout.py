"""In a real browser: the search box's own examples find products, "Add to cart" answers with a
message and the header badge, and a block of 8 lays out as two full rows at 1280 px."""

from __future__ import annotations

import re

import pytest

from stylerec.models import Style
from tests.factories import make_product

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_search_box_examples_find_products(browser_page, store):
    Style.objects.filter(slug="minimalist").update(name_zh="简约", keywords="minimalist,clean,简约")
    make_product(direction=0, title="Canvas tote", category="Bag", style_scores={"minimalist": 0.9})
    page = browser_page
    page.goto("/")
    box = page.locator('header input[name="q"]')
    placeholder = box.get_attribute("placeholder")
    examples = [e.strip(" …") for e in placeholder.removeprefix("Search:").split(",")]
    assert examples == ["retro dress", "简约 bag"]
    for example in examples:
        box = page.locator('header input[name="q"]')
        box.fill(example)
        box.press("Enter")
        page.wait_for_url(re.compile(r"\?q="))
        heading = page.locator("main h1").inner_text()
        count = int(re.search(r"\((\d+)\)", heading).group(1))
        assert count > 0, (example, heading)
        assert page.locator("main .grid .card").count() == min(count, 24)
    # "retro dress": the floral dresses are retro by their style scores; "简约 bag": the tote
    page.goto("/?q=retro+dress")
    assert page.locator("main .grid .card .title").first.inner_text().startswith("Floral tea dress")


def test_add_to_cart_answers_with_a_message_and_the_badge(browser_page, store):
    page = browser_page
    product = store["products"][2]
    page.goto(f"/p/{product.pk}/")
    badge = page.locator("header .cart-badge")
    assert badge.inner_text() == "0"
    page.get_by_role("button", name="Add to cart").click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/p/{product.pk}/")  # still on the product page
    assert page.locator(".messages [role=status], .messages").first.inner_text().startswith("Added to cart")
    assert badge.inner_text() == "1"
    page.get_by_role("button", name="Add to cart").click()
    page.wait_for_load_state()
    assert badge.inner_text() == "2"
    page.locator("header .cart-link").click()
    page.wait_for_url(re.compile(r"/cart/$"))
    assert page.locator(f'[data-cart-line="{product.pk}"]').count() == 1
    page.get_by_role("button", name="Place order").click()
    page.wait_for_load_state()
    assert "Thanks for your order" in page.locator(".messages").inner_text()
    assert badge.inner_text() == "0"


def test_a_block_of_eight_lays_out_four_and_four_at_1280_px(browser_page, store):
    page = browser_page
    assert page.viewport_size["width"] == 1280
    page.goto(f"/p/{store['products'][0].pk}/")
    for block in ("for_you", "similar"):
        items = page.locator(f'[data-stylerec-block="{block}"] .stylerec-item')
        assert items.count() == 8
        tops = [round(items.nth(i).bounding_box()["y"]) for i in range(8)]
        rows = sorted(set(tops))
        assert len(rows) == 2, (block, tops)
        assert [tops.count(row) for row in rows] == [4, 4]
    page.set_viewport_size({"width": 400, "height": 900})  # a phone: two columns, four full rows
    items = page.locator('[data-stylerec-block="for_you"] .stylerec-item')
    tops = [round(items.nth(i).bounding_box()["y"]) for i in range(8)]
    assert [tops.count(row) for row in sorted(set(tops))] == [2, 2, 2, 2]
