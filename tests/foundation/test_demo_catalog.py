import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from PIL import Image

from shop.demo_catalog import STYLES, build_demo_catalog
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
    assert photo.size == (256, 256) and photo.mode == "RGB"
    assert product.category in product.title
    assert Review.objects.count() == report.reviews > 0
    assert Interaction.objects.filter(user__username="demo_alice").exists()
    assert Interaction.objects.count() == report.interactions
    again = build_demo_catalog(size=40, customers=4)
    assert again.skipped and Product.objects.count() == 40


@pytest.mark.django_db
def test_demo_command_reports_what_it_built(capsys):
    call_command("build_demo_catalog", "--size", "12", "--customers", "2")
    assert "12 products" in capsys.readouterr().out
    call_command("build_demo_catalog", "--size", "12", "--customers", "2")
    assert "already built" in capsys.readouterr().out
