"""The store and the cockpit in a real browser: blocks with reasons, styles changing the blocks
and swapping in styled images, clicks recorded, the admin's live preview."""

from __future__ import annotations

import re
import time

import pytest

from stylerec.models import Interaction
from tests.browser.conftest import screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def wait_for_rows(query, *, count: int = 1, timeout: float = 10.0):
    """Poll the database until a beacon sent by the page has landed (the browser sends it async)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if query.count() >= count:
            return list(query)
        time.sleep(0.1)
    return list(query)


def block_ids(page, block: str) -> list[int]:
    items = page.locator(f'[data-stylerec-block="{block}"] [data-product]')
    return [int(items.nth(i).get_attribute("data-product")) for i in range(items.count())]


def test_product_page_shows_k_recommendations_with_reasons(browser_page, store):
    page = browser_page
    viewed = store["products"][0]
    page.goto(f"/p/{viewed.pk}/")
    similar = page.locator('[data-stylerec-block="similar"]')
    similar.wait_for()
    items = similar.locator(".stylerec-item")
    assert items.count() == 8  # k=8 in the product page's tag
    for i in range(items.count()):
        assert items.nth(i).locator(".stylerec-item__reason").inner_text().strip()
        assert items.nth(i).locator("img").evaluate("img => img.complete && img.naturalWidth > 0")
    assert viewed.pk not in block_ids(page, "similar")
    bought_together = page.locator('[data-stylerec-block="bought_together"] .stylerec-item')
    assert bought_together.count() <= 4
    # The block was seen (scrolled into view): the impression beacon recorded it.
    similar.scroll_into_view_if_needed()
    seen = wait_for_rows(Interaction.objects.filter(kind="impression", block="similar"), count=8)
    assert [e.position for e in sorted(seen, key=lambda e: e.position)] == list(range(1, 9))
    screenshot(page, "product_page.png")


def test_choosing_a_style_changes_the_blocks_and_shows_styled_images(browser_page, store):
    page = browser_page
    sign_in(page, "alice")
    page.goto("/styles/")
    before = block_ids(page, "in_your_style")
    assert page.locator("[data-stylerec-toggle]").count() == 0  # no style yet: no toggle

    page.locator("#style_retro").evaluate("el => { el.value = '1'; }")
    page.locator("#styles-form button[type=submit]").click()
    page.wait_for_load_state()
    after = block_ids(page, "in_your_style")
    floral = {p.pk for p in store["products"][6:]}
    assert after != before
    assert after and set(after[:4]) <= floral  # the retro (floral) products lead now

    toggle = page.locator('[data-stylerec-block="in_your_style"] [data-stylerec-toggle]')
    assert "Retro" in toggle.inner_text()
    first_image = page.locator('[data-stylerec-block="in_your_style"] img[data-styled]').first
    original = first_image.get_attribute("src")
    toggle.click()
    assert toggle.get_attribute("aria-pressed") == "true"
    styled_src = first_image.get_attribute("src")
    assert styled_src != original and "/media/styled/" in styled_src
    loaded = "img => new Promise(ok => img.complete ? ok(img.naturalWidth) : (img.onload = () => ok(1)))"
    assert first_image.evaluate(loaded)  # the styled picture really loads
    toggle.click()
    assert first_image.get_attribute("src") == original


def test_clicking_an_item_records_the_click_and_attributes_the_cart(browser_page, store):
    page = browser_page
    sign_in(page, "alice")
    viewed = store["products"][0]
    page.goto(f"/p/{viewed.pk}/")
    link = page.locator('[data-stylerec-block="similar"] .stylerec-item__link').nth(1)
    target = int(re.search(r"/r/similar/(\d+)/", link.get_attribute("href")).group(1))
    link.click()
    page.wait_for_url(re.compile(rf"/p/{target}/\?block=similar"))
    click = Interaction.objects.get(kind="click")
    assert (click.user.username, click.product_id, click.block, click.position, click.profile_id) == (
        "alice",
        target,
        "similar",
        2,
        store["profile"].pk,
    )
    # The landing page's "Add to cart" carries the block and profile on.
    page.get_by_role("button", name="Add to cart").click()
    page.wait_for_load_state()
    cart = Interaction.objects.get(kind="cart")
    assert (cart.product_id, cart.block, cart.profile_id) == (target, "similar", store["profile"].pk)


def test_admin_live_preview_shows_per_signal_contributions(browser_page, store):
    page = browser_page
    sign_in(page, "merch", admin=True)
    profile = store["profile"]
    page.goto(f"/admin/stylerec/rankingprofile/{profile.pk}/change/")
    page.fill("#id_preview_customer", "alice")
    page.fill("#id_preview_product", str(store["products"][0].pk))
    page.select_option("#id_preview_block", "similar")
    page.fill("#id_preview_k", "6")
    page.fill("#id_w_popularity", "3")  # an unsaved change: popularity now dominates
    page.click("#stylerec-preview-run")
    after = page.locator('#stylerec-preview-results [data-side="after"] tbody tr')
    after.first.wait_for()
    assert after.count() == 6
    assert page.locator('#stylerec-preview-results [data-side="before"] tbody tr').count() == 6
    assert page.locator('[data-side="after"] td[data-signal="popularity"]').count() == 6
    assert page.locator('[data-side="after"] td[data-signal="context"]').count() == 6
    page.locator("#stylerec-preview").scroll_into_view_if_needed()
    screenshot(page, "admin_preview.png")
    profile.refresh_from_db()
    assert profile.w_popularity == 0.2  # previewing saved nothing
