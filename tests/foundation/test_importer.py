import io
import json

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from PIL import Image

from stylerec.models import get_product_model
from stylerec.services.catalog import catalog_import


def _png(path, size=(40, 30)):
    Image.new("RGB", size, (200, 30, 30)).save(path, "PNG")


@pytest.fixture
def catalog_dir(tmp_path):
    _png(tmp_path / "good.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    return tmp_path


@pytest.mark.django_db
def test_csv_import_reports_bad_rows_with_line_numbers_and_keeps_good_ones(catalog_dir):
    (catalog_dir / "catalog.csv").write_text(
        "sku,title,category,price,stock,image\n"
        "A1,Red shirt,Shirt,19.90,3,good.png\n"  # line 2: ok
        "A2,,Shirt,10,1,\n"  # line 3: no title
        "A3,Blue bag,Bag,cheap,1,\n"  # line 4: price not a number
        "A4,Green coat,Coat,99,2,broken.png\n"  # line 5: unreadable image
        "A5,Grey coat,Coat,99,2,missing.png\n"  # line 6: image not found
        "A6,Old boot,Boots,49,-1,\n",  # line 7: bad stock
        encoding="utf-8",
    )
    report = catalog_import(path=catalog_dir / "catalog.csv")
    assert report.created == 1
    reasons = dict(report.errors)
    assert sorted(reasons) == [3, 4, 5, 6, 7]
    assert "title" in reasons[3]
    assert "not a number" in reasons[4]
    assert "corrupt" in reasons[5] or "not an image" in reasons[5]
    assert "not found" in reasons[6]
    assert "stock" in reasons[7]
    product = get_product_model().objects.get()
    assert product.title == "Red shirt" and str(product.price) == "19.90" and product.stock == 3
    assert default_storage.exists(product.image.name)
    # Nothing half-written: only the good row's image is stored.
    assert len(default_storage.listdir("products")[1]) == 1


@pytest.mark.django_db
def test_jsonl_import_updates_by_sku_and_rejects_bad_json(catalog_dir):
    rows = [
        {"sku": "S1", "title": "Tee", "category": "T-shirt", "price": "9.5"},
        "not json",
        {"sku": "S1", "title": "Tee v2", "category": "T-shirt", "price": 12, "stock": "4"},
    ]
    (catalog_dir / "c.jsonl").write_text(
        "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows), encoding="utf-8"
    )
    report = catalog_import(path=catalog_dir / "c.jsonl")
    assert (report.created, report.updated) == (1, 1)
    assert report.errors[0][0] == 2 and "JSON" in report.errors[0][1]
    assert get_product_model().objects.get(sku="S1").title == "Tee v2"


@pytest.mark.django_db
def test_strict_import_writes_nothing_when_any_row_is_bad(catalog_dir):
    (catalog_dir / "c.csv").write_text(
        "title,category,price,image\nOk,Bag,5,good.png\nBad,Bag,x,\n", encoding="utf-8"
    )
    out = io.StringIO()
    with pytest.raises(CommandError, match="nothing imported"):
        call_command("stylerec_import_catalog", str(catalog_dir / "c.csv"), "--strict", stdout=out)
    assert "line 3: price 'x' is not a number" in out.getvalue()
    assert not get_product_model().objects.exists()
    assert not default_storage.exists("products")


@pytest.mark.django_db
def test_missing_required_column_is_reported(catalog_dir):
    (catalog_dir / "c.csv").write_text("title,price\nTee,5\n", encoding="utf-8")
    report = catalog_import(path=catalog_dir / "c.csv")
    assert report.errors == [(1, "the header lacks the column(s) category")]
