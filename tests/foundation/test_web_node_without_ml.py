"""A web node is ``pip install stylerec`` without the ``ml`` extra (issue #11).

Each test runs a child process (``tests/foundation/web_node_child.py``) that makes torch,
transformers, onnxruntime, scikit-learn and the other model packages unimportable *before* Django
starts, with the settings of a web node (``web_node_settings``: a broker, so tasks are sent to a
worker instead of running in the request) on this test's database.

What this proves: Django starts, the system checks pass, and product, search and catalog pages
render their recommendation blocks with items and reasons, and the API and its schema answer,
for an anonymous visitor and for a signed-in customer, without any model library. Work that needs
a model (a customer's profile refresh, styled images) is enqueued, not run. A module-level
``import torch`` (or transformers, onnxruntime, ...) added anywhere on the web path, even one
wrapped in ``try/except ImportError``, makes these tests fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from stylerec.models import Interaction, StylePreference
from stylerec.services.events import interaction_record
from tests.factories import make_order, make_product, make_style, make_user

ROOT = Path(__file__).resolve().parents[2]
K = 4
QUERY = "retro navy"
WEB_NODE_DB_KEYS = ("NAME", "USER", "PASSWORD", "HOST", "PORT")


def web_node_run(mode: str, *, media_root: Path, scenario: dict | None = None) -> dict:
    """Run the child in ``mode``; its JSON summary (the last line of its output)."""
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="tests.foundation.web_node_settings",
        STYLEREC_WEB_NODE_DB=json.dumps({key: connection.settings_dict[key] for key in WEB_NODE_DB_KEYS}),
        STYLEREC_WEB_NODE_MEDIA=str(media_root),
        STYLEREC_WEB_NODE_SCENARIO=json.dumps(scenario or {}),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    result = subprocess.run(
        [sys.executable, "-m", "tests.foundation.web_node_child", mode],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    output = result.stdout.strip().splitlines()
    assert result.returncode == 0 and output, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(output[-1])


@pytest.fixture
def shop(settings):
    """Committed rows a web node serves: products with their vectors and style scores already
    computed (by a worker, in real life), a style, and a customer with a history and a style."""
    settings.STYLEREC = {**settings.STYLEREC, "AUTO_COMPUTE": False}  # no model runs here either
    retro = make_style("retro", name="Retro", keywords="retro, vintage")
    products = [
        make_product(
            direction={family: 1.0, 10 + i: 0.3},
            title=f"{'Navy' if family == 0 else 'Floral'} item {i}",
            category="Shirt" if family == 0 else "Dress",
            image=f"products/item-{i}.jpg",
            style_scores={"retro": 0.9 if family == 0 else 0.1},
            popularity=float(10 - i),
            sales_count=10 - i,
            rating_average=4.5,
            review_count=3,
        )
        for i in range(10)
        for family in [0 if i < 5 else 1]
    ]
    customer = make_user("webnode-alice")
    StylePreference.objects.create(user=customer, style=retro, weight=1.0)
    make_order(products[0].pk, user=customer)  # the store's order hook, as a purchase is recorded
    interaction_record(
        kind=Interaction.Kind.VIEW, user=customer, product_id=products[6].pk
    )  # refreshes the profile
    return {"products": products, "customer": customer, "style": retro}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_web_node_serves_pages_blocks_and_api_without_the_ml_stack(shop, tmp_path):
    product = shop["products"][1]
    summary = web_node_run(
        "serve",
        media_root=tmp_path / "media",
        scenario={"product_id": product.pk, "username": shop["customer"].username, "k": K, "query": QUERY},
    )

    for who in ("anonymous", "customer"):
        pages = summary[who]
        page = pages["product_page"]
        assert page["status"] == 200 and page["errors"] == 0, (who, page)
        assert page["blocks"].get("similar") == 8, (who, page)  # k=8 in the template; 9 others in stock
        assert page["blocks"].get("for_you", 0) >= K, (who, page)
        assert page["reasons"] == sum(page["blocks"].values()), (who, page)
        search, catalog = pages["search_page"], pages["catalog_page"]
        assert search["status"] == 200 and search["blocks"].get("trending"), (who, search)
        assert catalog["status"] == 200 and catalog["blocks"].get("for_you"), (who, catalog)
        for name in ("api_for_you", "api_similar"):
            answer = pages[name]
            assert answer["status"] == 200, (who, name, answer)
            assert answer["items"] == K and answer["with_reasons"] == K, (who, name, answer)
        assert pages["api_products"] == 200
    assert summary["customer"]["api_for_you"]["fallback"] in ("", None), summary["customer"]
    assert summary["schema"] == {"status": 200, "has_recommendations": True}

    # Work was sent to workers, not run in the requests: the refresh of the profiles that the views
    # and searches changed, and the styled images (a model) of the signed-in customer's style.
    assert "stylerec.customer_profile_refresh" in summary["tasks_sent"], summary["tasks_sent"]
    assert "stylerec.artifacts_compute:styled" in summary["tasks_sent"], summary["tasks_sent"]
    searches = Interaction.objects.filter(kind=Interaction.Kind.SEARCH, query=QUERY)
    assert searches.filter(user=shop["customer"]).count() == 1
    assert searches.filter(user=None).exclude(session_key="").count() == 1

    assert summary["ml_modules_loaded"] == []
    assert summary["blocked_import_attempts"] == []


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_system_checks_pass_on_a_web_node_without_the_ml_stack(tmp_path):
    summary = web_node_run("check", media_root=tmp_path / "media")
    assert summary["exit"] == 0, summary
    assert summary["ml_modules_loaded"] == []
    assert summary["blocked_import_attempts"] == []
