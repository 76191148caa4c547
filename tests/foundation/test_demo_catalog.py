import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from PIL import Image

from shop.demo_catalog import (
    GENERATED_REVIEW_TITLE,
    IMAGE_SIZE,
    STYLES,
    build_demo_catalog,
    real_product_remarks_en,
    real_shopping_remarks,
)
from stylerec.models import Interaction, Review, Style, get_product_model


@pytest.mark.django_db
def test_demo_catalog_is_real_photos_reviews_and_simulated_histories_and_idempotent():
    report = build_demo_catalog(size=40, customers=4)
    Product = get_product_model()
    assert report.products == Product.objects.count() == 40
    assert set(Style.objects.values_list("slug", flat=True)) == {s.slug for s in STYLES}
    product = Product.objects.order_by("sku").first()
    with default_storage.open(product.image.name) as fh:
        photo = Image.open(fh)
        photo.load()
    assert photo.size == (IMAGE_SIZE, IMAGE_SIZE) and photo.mode == "RGB"
    assert product.category in product.title
    assert Review.objects.count() == report.reviews > 0
    assert Interaction.objects.filter(user__username="demo_alice").exists()
    assert Interaction.objects.count() == report.interactions + report.ab_events
    again = build_demo_catalog(size=40, customers=4)
    assert again.skipped and Product.objects.count() == 40


@pytest.mark.django_db
def test_demo_command_reports_what_it_built(capsys):
    call_command("build_demo_catalog", "--size", "12", "--customers", "2")
    assert "12 products" in capsys.readouterr().out
    call_command("build_demo_catalog", "--size", "12", "--customers", "2")
    assert "already built" in capsys.readouterr().out


@pytest.mark.django_db
def test_demo_names_are_unique_reviews_are_about_products_and_generated_ones_say_so():
    build_demo_catalog(size=120, customers=6)
    titles = list(get_product_model().objects.values_list("title", flat=True))
    assert len(titles) == len(set(titles)) == 120
    reviews = list(Review.objects.select_related("product"))
    generated = [r for r in reviews if r.title == GENERATED_REVIEW_TITLE]
    real = [r for r in reviews if r.title != GENERATED_REVIEW_TITLE]
    assert generated and real
    # Real ones are remarks from the two product-review corpora; generated English ones talk about
    # the product they are on (its category), and no review is about a film.
    corpora = real_shopping_remarks(), real_product_remarks_en()
    known = {text for corpus in corpora for texts in corpus.values() for text in texts}
    assert all(r.text in known for r in real)
    english = [r for r in generated if r.text.isascii()]
    assert english and all(r.text[0].isupper() for r in english)
    about_product = [r for r in english if r.product.category.lower() in r.text.lower()]
    assert len(about_product) >= len(english) // 4
    assert not any(word in r.text.lower() for r in reviews for word in ("film", "movie", "酒店", "phone"))


@pytest.mark.django_db
def test_demo_ab_test_is_simulated_per_arm_and_shows_a_result_with_intervals():
    import datetime as dt

    from django.utils import timezone

    from stylerec.admin_views import ab_table
    from stylerec.models import RankingProfile

    report = build_demo_catalog(size=120, customers=12)
    default = RankingProfile.objects.get(is_active=True)
    assert default.challenger is not None and default.challenger_share == 0.5
    assert "SIMULATED" in default.challenger.description
    assert report.ab_events == Interaction.objects.exclude(profile=None).count() > 0
    today = timezone.now().date()
    rows = ab_table(start=today - dt.timedelta(days=13), end=today)["profiles"]
    assert {row["profile_id"] for row in rows} == {default.pk, default.challenger_id}
    for row in rows:
        assert row["impressions"] > 100 and row["ctr_interval"] is not None


def test_titles_stay_unique_past_the_list_of_model_names():
    from shop.demo_catalog import MODEL_NAMES, _unique_title

    seen: dict[str, int] = {}
    titles = [_unique_title("Retro Rust Dress", seen) for _ in range(2 * len(MODEL_NAMES) + 5)]
    assert len(set(titles)) == len(titles)
    assert sum(title.endswith(" II") for title in titles) == len(MODEL_NAMES)
