"""The demo and the merchandiser's cockpit in Chromium, on the demo store (``demo_store``):
credible product pages (sharp photos, generated reviews labelled, a CJK font stack), weight
sliders that stay in step with their numbers and refuse absurd values, the rules editor, the
preview with thumbnails and its order explained, the "Recommendations" page and the A/B result.

``STYLEREC_DOCS_SCREENSHOTS=1`` makes these tests refresh the pictures in docs/screenshots/."""

from __future__ import annotations

import re

import pytest

from shop.demo_catalog import IMAGE_SIZE
from shop.labels import GENERATED_REVIEW_TITLE
from stylerec.models import RankingProfile, Review
from tests.browser.conftest import screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_demo_product_page_has_sharp_photos_labelled_reviews_and_a_cjk_font(browser_page, demo_store):
    page = browser_page
    # A product with a generated English review and a real Chinese one, to see both side by side.
    generated = Review.objects.filter(title=GENERATED_REVIEW_TITLE, text__regex=r"^[A-Z]")
    real = Review.objects.filter(title="", text__regex="[一-龥]", product__in=generated.values("product"))
    reviewed = real.values_list("product_id", flat=True).first()
    page.goto(f"/p/{reviewed}/")
    photo = page.locator("img.main")
    assert photo.evaluate("img => img.complete && img.naturalWidth") == IMAGE_SIZE
    badges = page.locator("#reviews .badge-generated")
    assert badges.count() >= 1 and badges.first.inner_text() == "generated review"
    assert page.locator("#reviews .review").count() > badges.count()  # the real one has no badge
    assert GENERATED_REVIEW_TITLE not in page.locator("#reviews").inner_text()  # a badge, not a title
    font = page.evaluate("getComputedStyle(document.body).fontFamily")
    for face in ('"Noto Sans CJK SC"', '"PingFang SC"', '"Microsoft YaHei"', "sans-serif"):
        assert face in font
    block = page.locator('[data-stylerec-block="similar"] .stylerec-item__title')
    block.first.wait_for()
    names = [block.nth(i).inner_text() for i in range(block.count())]
    assert names and len(names) == len(set(names))
    screenshot(page, "demo_product_page.png", docs=True)


def test_cockpit_sliders_rules_preview_and_validation(browser_page, demo_store):
    page = browser_page
    sign_in(page, "merch", admin=True)
    page.goto("/admin/")
    page.get_by_role("link", name="Recommendations", exact=True).first.click()
    page.wait_for_url(re.compile(r"/admin/stylerec/recommendations/$"))
    for card in ("profiles", "preview", "ab", "artifacts", "evaluation"):
        assert page.locator(f"#cockpit-{card} h2 a").count() == 1, card
    assert "points CTR" in page.locator("#cockpit-ab").inner_text()  # the demo's simulated A/B test
    screenshot(page, "admin_recommendations.png", docs=True)

    page.locator("#cockpit-preview h2 a").click()
    page.wait_for_load_state()
    profile = RankingProfile.objects.get(is_active=True)
    # A slider moves its number box, and a typed number moves the slider.
    slider = page.locator('input[type=range][data-stylerec-slider-for="id_w_popularity"]')
    slider.evaluate("el => { el.value = '2.5'; el.dispatchEvent(new Event('input', {bubbles: true})); }")
    assert page.locator("#id_w_popularity").input_value() == "2.5"
    page.fill("#id_w_style", "1.5")
    assert page.locator('input[data-stylerec-slider-for="id_w_style"]').input_value() == "1.5"
    # The rules editor: a cap for one category.
    page.locator('#stylerec-category-rules tr[data-category="Dress"] input[name$="_cap"]').fill("1")

    viewed = next(p for p in demo_store["products"] if p.category == "Dress")
    page.fill("#id_preview_product", str(viewed.pk))
    page.select_option("#id_preview_block", "similar")
    page.fill("#id_preview_k", "8")
    page.click("#stylerec-preview-run")
    rows = page.locator('#stylerec-preview-results [data-side="after"] tbody tr')
    rows.first.wait_for()
    assert rows.count() == 8
    thumbs = page.locator('#stylerec-preview-results [data-side="after"] img.thumb')
    assert thumbs.count() == 8
    thumbs.last.scroll_into_view_if_needed()
    assert thumbs.first.evaluate("img => img.complete && img.naturalWidth > 0")
    reasons = page.locator('[data-side="after"] .reason')
    assert all(reasons.nth(i).inner_text().strip() for i in range(reasons.count()))
    explainer = page.locator("#stylerec-mmr-explainer")
    assert "Why this order?" in explainer.inner_text() and "Dress 1" in explainer.inner_text()
    after_ids = [int(rows.nth(i).get_attribute("data-product")) for i in range(rows.count())]
    dresses = {p.pk for p in demo_store["products"] if p.category == "Dress"}
    assert len(dresses & set(after_ids)) <= 1 or len(set(after_ids) - dresses) == 0  # the cap (soft)
    page.locator("#stylerec-preview").scroll_into_view_if_needed()
    screenshot(page, "admin_preview.png", docs=True, clip_to="#stylerec-preview")

    # An absurd weight is refused with a clear message; nothing is saved.
    page.fill("#id_w_popularity", "1e308")
    page.locator('input[name="_continue"]').click()
    page.wait_for_load_state()
    assert "less than or equal to 10.0" in page.locator(".field-w_popularity .errorlist").inner_text()
    profile.refresh_from_db()
    assert profile.w_popularity == 0.2
    screenshot(page, "admin_weights.png", docs=True, clip_to="#rankingprofile_form fieldset:nth-of-type(2)")
    # A sane one saves, with the rule written to the profile's rules.
    page.fill("#id_w_popularity", "2.5")
    page.locator('#stylerec-category-rules tr[data-category="Dress"] input[name$="_cap"]').fill("1")
    page.locator('input[name="_continue"]').click()
    page.wait_for_load_state()
    profile.refresh_from_db()
    assert profile.w_popularity == 2.5 and profile.rules["cap"] == {"category:Dress": 1}


def test_ab_dashboard_shows_the_demo_test_with_intervals(browser_page, demo_store):
    page = browser_page
    sign_in(page, "merch", admin=True)
    page.goto("/admin/stylerec/rankingprofile/ab/")
    verdict = page.locator("#stylerec-ab-verdict").inner_text()
    assert "difference" in verdict and "95% interval" in verdict
    rows = page.locator('table.stylerec-ab-table tr[data-block="all"]')
    assert rows.count() == 2  # the default profile and its challenger
    for i in range(2):
        interval = rows.nth(i).locator("td").nth(5).inner_text()
        assert re.fullmatch(r"0\.\d{3}–0\.\d{3}", interval)
    assert page.locator("svg.stylerec-chart polyline").count() == 2
    screenshot(page, "admin_ab.png", docs=True)
