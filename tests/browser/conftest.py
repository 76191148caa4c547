"""Real browser tests: Playwright drives Debian's Chromium (headless) against pytest-django's
live server. Never ``playwright install``: the system Chromium is used."""

from __future__ import annotations

import io
import mimetypes
import os
from pathlib import Path

import pytest
from django.core.files.base import ContentFile

from stylerec.lab.browser import CHROMIUM, CHROMIUM_ARGS
from stylerec.models import RankingProfile
from tests.factories import make_product, make_style, make_user

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "pass-word-123"  # tests.factories.make_user's


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
            if not CHROMIUM.exists():
                item.add_marker(pytest.mark.skip(reason="/usr/bin/chromium is not installed"))


@pytest.fixture
def browser_page(live_server, settings, monkeypatch):
    """A Chromium page whose /media/ requests are answered from the test's MEDIA_ROOT (the live
    server serves static files, not uploads)."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
    # still synchronous and safe.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    media_root = Path(settings.MEDIA_ROOT)

    def serve_media(route):
        path = media_root / route.request.url.split("/media/", 1)[1].split("?")[0]
        if path.is_file():
            route.fulfill(
                status=200,
                body=path.read_bytes(),
                content_type=mimetypes.guess_type(path.name)[0] or "application/octet-stream",
            )
        else:
            route.fulfill(status=404, body=b"")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
        )
        context = browser.new_context(viewport={"width": 1280, "height": 1000}, base_url=live_server.url)
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.route("**/media/**", serve_media)
        yield page
        context.close()
        browser.close()


DOCS_SCREENSHOTS = ARTIFACTS.parent / "docs" / "screenshots"


def screenshot(page, name: str, *, docs: bool = False, full_page: bool = True, clip_to: str = "") -> Path:
    """Save to test-artifacts/ (git-ignored). ``docs`` pictures (taken from the ``demo_store``
    below) go to docs/screenshots/ instead when STYLEREC_DOCS_SCREENSHOTS=1, the documented way
    to refresh the pictures in the docs (docs/development.md). ``clip_to``: a CSS selector."""
    for_docs = docs and os.environ.get("STYLEREC_DOCS_SCREENSHOTS") == "1"
    target_dir = DOCS_SCREENSHOTS if for_docs else ARTIFACTS
    target_dir.mkdir(exist_ok=True)
    target = target_dir / name
    # Lazy images below the fold would be blank in a full-page picture: load them all first.
    page.evaluate("document.querySelectorAll('img[loading=lazy]').forEach(img => img.loading = 'eager')")
    page.wait_for_function("Array.from(document.images).every(img => img.complete)")
    if clip_to:
        page.locator(clip_to).screenshot(path=str(target))
        return target
    page.evaluate("window.scrollTo(0, 0)")  # a sticky header would otherwise sit mid-page
    page.screenshot(path=str(target), full_page=full_page)
    return target


@pytest.fixture
def demo_store(transactional_db, settings):
    """The demo store, small: ``build_demo_catalog`` as ``make demo`` runs it (real photos,
    real and generated reviews, simulated customers and A/B test), with vectors and style scores
    set from each product's hidden style and category instead of computed by the models (which
    the pipeline tests cover), then popularity and neighbours refreshed as ``make demo`` does."""
    from django.core.management import call_command

    from shop.demo_catalog import CATEGORIES, STYLES, build_demo_catalog
    from stylerec.ml.dims import IMAGE_DIM, TEXT_DIM
    from stylerec.models import get_product_model
    from tests.factories import unit_vector

    settings.STYLEREC = {**settings.STYLEREC, "AUTO_COMPUTE": False, "PRODUCT_URL_NAME": "shop:product"}
    build_demo_catalog(size=160, customers=60)  # the full demo's customers: its A/B test
    categories = [name for name, _, _ in CATEGORIES]
    products = list(get_product_model().objects.order_by("pk"))
    for n, product in enumerate(products):
        style = next(i for i, spec in enumerate(STYLES) if product.title.startswith(spec.name + " "))
        direction = {style: 1.0, 10 + categories.index(product.category): 0.8, 30 + n % 60: 0.25}
        product.text_embedding = unit_vector(TEXT_DIM, direction)
        product.image_embedding = unit_vector(IMAGE_DIM, direction)
        product.style_scores = {spec.slug: (0.9 if i == style else 0.05) for i, spec in enumerate(STYLES)}
    get_product_model().objects.bulk_update(products, ["text_embedding", "image_embedding", "style_scores"])
    call_command("stylerec_refresh_signals", verbosity=0)
    return {"products": products, "staff": make_user("merch", is_staff=True, is_superuser=True)}


def _product_image(colour: tuple[int, int, int], accent: tuple[int, int, int]) -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (160, 160), (245, 243, 238))
    draw = ImageDraw.Draw(image)
    draw.polygon(
        [(50, 30), (110, 30), (135, 60), (120, 70), (115, 140), (45, 140), (40, 70), (25, 60)], fill=colour
    )
    draw.rectangle([70, 30, 90, 45], fill=accent)
    for y in range(60, 140, 16):
        draw.line([(45, y), (115, y)], fill=accent, width=3)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def store(transactional_db, settings):
    """A small store: two families of products (navy minimalist shirts, floral retro dresses)
    with pictures and vectors, two styles, a customer, a merchandiser and an active profile.
    Vectors are set directly (no model run on save); styled images are made by the real style
    transfer for the retro products, ahead of time as the precompute job would."""
    settings.STYLEREC = {**settings.STYLEREC, "AUTO_COMPUTE": False, "PRODUCT_URL_NAME": "shop:product"}
    retro = make_style("retro", name="Retro", transfer_preset=0, description="Vintage florals and warm tones")
    make_style("minimalist", name="Minimalist", transfer_preset=1, description="Clean lines, plain colours")
    products = []
    for i in range(12):
        floral = i >= 6
        product = make_product(
            direction={1 if floral else 0: 1.0, 10 + i: 0.3},
            title=f"{'Floral tea dress' if floral else 'Navy oxford shirt'} No. {i + 1}",
            category="Dress" if floral else "Shirt",
            brand="Demo",
            popularity=float(12 - i),
            sales_count=12 - i,
            rating_average=4.0 + (i % 10) / 10,
            review_count=5 + i,
            sentiment_score=0.5,
            style_scores={"retro": 0.9, "minimalist": 0.1} if floral else {"minimalist": 0.9, "retro": 0.05},
        )
        colour = (200, 90 + 8 * i, 120) if floral else (30, 50 + 8 * i, 110)
        product.image.save(
            f"product-{i}.png", ContentFile(_product_image(colour, (240, 220, 200))), save=True
        )
        products.append(product)
    from stylerec.models import Style
    from stylerec.services.styled import styled_images_generate, styled_images_precompute

    # Only the retro style is drawn ahead of time here (the precompute job does every style).
    Style.objects.exclude(pk=retro.pk).update(is_active=False)
    styled_images_generate(ids=styled_images_precompute(top_n=len(products), enqueue=False))
    Style.objects.update(is_active=True)
    profile = RankingProfile.objects.create(name="Baseline", is_active=True)
    return {
        "products": products,
        "retro": retro,
        "customer": make_user("alice"),
        "staff": make_user("merch", is_staff=True, is_superuser=True),
        "profile": profile,
    }


def sign_in(page, username: str, *, admin: bool = False) -> None:
    page.goto("/admin/login/" if admin else "/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.locator("input[type=submit], button[type=submit]").first.click()
    page.wait_for_load_state()
