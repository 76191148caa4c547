"""The merchandiser's cockpit: live preview on the RankingProfile page, the A/B dashboard and
styled previews on the Style page."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django import forms
from django.core.files.base import ContentFile
from django.forms.models import model_to_dict
from django.utils import timezone

from stylerec.admin_forms import RankingProfileForm
from stylerec.admin_views import ab_table, svg_line_chart, wilson_interval
from stylerec.models import Interaction, RankingProfile, StyledImage
from stylerec.ranking.types import SIGNALS
from tests.factories import make_style

pytestmark = pytest.mark.django_db

PREVIEW = "/admin/stylerec/rankingprofile/preview/"
AB = "/admin/stylerec/rankingprofile/ab/"


def form_data(profile: RankingProfile, **changes) -> dict[str, str]:
    """The change form as the browser would post it."""
    data = {}
    for name, value in {**model_to_dict(profile), **changes}.items():
        if name in ("id", "version"):
            continue
        if isinstance(value, dict | list):
            value = json.dumps(value)
        elif isinstance(value, bool):
            if not value:
                continue  # unchecked boxes are absent
            value = "on"
        data[name] = "" if value is None else str(value)
    return data


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def test_change_page_has_the_live_preview_panel(staff_client):
    profile = RankingProfile.objects.create(name="baseline", is_active=True)
    html = staff_client.get(f"/admin/stylerec/rankingprofile/{profile.pk}/change/").content.decode()
    assert 'id="stylerec-preview"' in html
    assert f'name="preview_profile_id" value="{profile.pk}"' in html
    assert 'data-preview-url="/admin/stylerec/rankingprofile/preview/"' in html
    assert "A/B dashboard" in html


def similar_preview(profile, product) -> dict[str, str]:
    """The preview panel's fields: the "similar" block of ``product``, 4 items, no customer."""
    return {
        "preview_profile_id": str(profile.pk),
        "preview_customer": "",
        "preview_product": str(product.pk),
        "preview_block": "similar",
        "preview_k": "4",
    }


def test_preview_ranks_saved_and_unsaved_profile_side_by_side_with_contributions(staff_client, catalog):
    profile = RankingProfile.objects.create(
        name="baseline", is_active=True, w_popularity=0.0, max_per_category=0
    )
    # The unsaved edit: popularity only, so the list becomes the most popular products.
    data = form_data(
        profile,
        w_history=0,
        w_context=0,
        w_style=0,
        w_visual=0,
        w_sentiment=0,
        w_collaborative=0,
        w_popularity=5.0,
        w_freshness=0,
        mmr_lambda=1.0,
    )
    data.update(similar_preview(profile, catalog[0]))
    response = staff_client.post(PREVIEW, data)
    assert response.status_code == 200
    html = response.content.decode()
    before, after = html.split('data-side="after"')
    assert 'data-side="before"' in before and "Saved: baseline" in before
    for signal in SIGNALS:
        assert f'data-signal="{signal}"' in after
    after_ids = [int(pid) for pid in re.findall(r'data-product="(\d+)"', after)]
    # Popularity (10 - i) decides "after": the most popular of the viewed product's neighbours first.
    popularity = {p.pk: p.popularity for p in catalog}
    assert [popularity[pid] for pid in after_ids] == sorted(
        (popularity[pid] for pid in after_ids), reverse=True
    )
    # Nothing was saved.
    profile.refresh_from_db()
    assert profile.w_popularity == 0.0 and profile.w_history == 1.0


def test_preview_shows_the_fit_note_a_customer_would_see(staff_client, catalog):
    from stylerec.models import get_product_model

    get_product_model().objects.update(
        aspect_summary=[{"aspect": "fit", "verdict": "runs small", "reviews": 4, "polarity": -1}]
    )
    profile = RankingProfile.objects.create(name="baseline", is_active=True)
    data = {**form_data(profile), **similar_preview(profile, catalog[0])}
    html = staff_client.post(PREVIEW, data).content.decode()
    shown = len(re.findall(r'data-product="(\d+)"', html))
    assert shown and html.count('<div class="aspect-note">Fit: runs small (4 reviews)</div>') == shown


def test_preview_reports_form_errors_instead_of_failing(staff_client):
    profile = RankingProfile.objects.create(name="baseline")
    data = form_data(profile, mmr_lambda="7")
    data.update(preview_profile_id=str(profile.pk), preview_customer="nobody-here", preview_block="for_you")
    html = staff_client.post(PREVIEW, data).content.decode()
    assert "errorlist" in html and "No customer with this username or id." in html and "mmr_lambda" in html


def test_cockpit_pages_are_staff_only(client, customer):
    client.force_login(customer)
    assert client.post(PREVIEW, {}).status_code == 302  # to the admin login
    assert client.get(AB).status_code == 302


def _events(profile, block, *, impressions, clicks, carts=0, purchases=0, day=None):
    when = day or timezone.now()
    rows = [("impression", impressions), ("click", clicks), ("cart", carts), ("purchase", purchases)]
    Interaction.objects.bulk_create(
        Interaction(kind=kind, profile=profile, block=block, session_key="s", created_at=when)
        for kind, count in rows
        for _ in range(count)
    )


def test_ab_table_counts_and_rates_per_profile_and_block(db):
    control = RankingProfile.objects.create(name="control", is_active=True)
    challenger = RankingProfile.objects.create(name="challenger")
    _events(control, "for_you", impressions=100, clicks=10, carts=4, purchases=2)
    _events(control, "similar", impressions=50, clicks=1)
    _events(challenger, "for_you", impressions=80, clicks=16, carts=8, purchases=4)
    _events(
        challenger, "for_you", impressions=30, clicks=30, day=timezone.now() - dt.timedelta(days=40)
    )  # outside
    Interaction.objects.create(kind="view", session_key="s", created_at=timezone.now())  # not from a block
    today = timezone.now().date()
    table = ab_table(start=today - dt.timedelta(days=6), end=today)
    by_profile = {row["profile"]: row for row in table["profiles"]}
    assert by_profile["control"]["impressions"] == 150 and by_profile["control"]["clicks"] == 11
    assert by_profile["control"]["ctr"] == pytest.approx(11 / 150)
    assert by_profile["challenger"]["ctr"] == pytest.approx(0.2)
    assert by_profile["challenger"]["cart_rate"] == pytest.approx(0.1)
    assert by_profile["challenger"]["conversion"] == pytest.approx(0.05)
    cells = {(row["profile"], row["block"]): row for row in table["cells"]}
    assert cells[("control", "similar")]["ctr"] == pytest.approx(0.02)
    low, high = cells[("control", "for_you")]["ctr_interval"]
    assert low < 0.1 < high
    only_similar = ab_table(start=today, end=today, block="similar")
    assert [row["profile"] for row in only_similar["profiles"]] == ["control"]


def test_ab_dashboard_page_shows_table_and_inline_svg_plot(staff_client):
    control = RankingProfile.objects.create(name="control", is_active=True)
    _events(control, "for_you", impressions=20, clicks=5)
    _events(control, "for_you", impressions=10, clicks=1, day=timezone.now() - dt.timedelta(days=1))
    today = timezone.now().date()
    response = staff_client.get(
        AB, {"start": (today - dt.timedelta(days=3)).isoformat(), "end": today.isoformat()}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<svg" in html and "<polyline" in html and "http://cdn" not in html
    assert f'data-profile="{control.pk}" data-block="for_you"' in html
    assert "0.2000" in html  # today's CTR: 6 / 30 over the period -> 0.2
    bad = staff_client.get(
        AB, {"start": today.isoformat(), "end": (today - dt.timedelta(days=1)).isoformat()}
    )
    assert "The period must start before it ends." in bad.content.decode()


def test_svg_chart_leaves_gaps_for_days_without_impressions():
    day = dt.date(2025, 1, 1)
    series = {"a": [(day, 0.1), (day + dt.timedelta(days=1), None), (day + dt.timedelta(days=2), 0.3)]}
    svg = str(svg_line_chart(series))
    assert svg.count("<circle") == 2 and "<polyline" not in svg
    assert "No impressions" in str(svg_line_chart({"a": [(day, None)]}))


def test_wilson_interval_brackets_the_rate():
    low, high = wilson_interval(10, 100)
    assert low < 0.1 < high and 0 <= low and high <= 1
    assert wilson_interval(0, 0) is None


def test_style_page_shows_styled_product_previews(staff_client, catalog):
    retro = make_style("retro")
    styled = StyledImage(product=catalog[0], style=retro, status="ready")
    styled.image.save("retro.jpg", ContentFile(b"\xff\xd8fake"), save=True)
    StyledImage.objects.create(product=catalog[1], style=retro, status="pending")
    html = staff_client.get(f"/admin/stylerec/style/{retro.pk}/change/").content.decode()
    assert styled.image.url in html
    assert html.count("<figure style=") == 1


# --- the cockpit for non-programmers: bounded sliders, the rules editor, the preview's order ----

CHANGE = "/admin/stylerec/rankingprofile/{}/change/"


def change_form_data(profile: RankingProfile, **changes) -> dict[str, str]:
    """What the browser posts from the change page: every field's initial value, then ``changes``."""
    from stylerec.admin_forms import RankingProfileForm

    form = RankingProfileForm(instance=profile)
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(field.widget, forms.CheckboxInput):
            if value:
                data[name] = "on"
        elif value is not None:
            data[name] = str(value.pk if hasattr(value, "pk") else value)
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = str(value)
    return data


def test_weights_are_sliders_with_numbers_and_sane_bounds(staff_client):
    profile = RankingProfile.objects.create(name="baseline", is_active=True)
    html = staff_client.get(CHANGE.format(profile.pk)).content.decode()
    for signal in SIGNALS:
        number = re.search(rf'<input type="number" name="w_{signal}"[^>]*>', html).group(0)
        assert 'min="-10.0"' in number and 'max="10.0"' in number
        assert f'data-stylerec-slider-for="id_w_{signal}"' in html
    assert re.search(r'<input type="number" name="mmr_lambda"[^>]*max="1.0"', html)
    assert 'name="rules"' not in html  # no raw JSON to edit


@pytest.mark.parametrize(
    ("value", "message"),
    [("1e308", "less than or equal to 10.0"), ("nan", "Enter a number."), ("-inf", "Enter a number.")],
)
def test_out_of_range_weights_are_rejected_with_a_clear_error(staff_client, value, message):
    profile = RankingProfile.objects.create(name="baseline", is_active=True)
    response = staff_client.post(CHANGE.format(profile.pk), change_form_data(profile, w_popularity=value))
    assert response.status_code == 200 and message in response.content.decode()
    profile.refresh_from_db()
    assert profile.w_popularity == 0.2
    preview = change_form_data(profile, w_popularity=value)
    preview.update(preview_profile_id=str(profile.pk), preview_block="trending", preview_k="4")
    answer = staff_client.post(PREVIEW, preview)
    assert answer.status_code == 200 and message in answer.content.decode()


def test_staff_api_answers_for_a_profile_written_around_the_admin(staff_api, catalog):
    """A profile saved from a shell with absurd numbers ranks with finite scores, never a 500."""
    profile = RankingProfile.objects.create(
        name="shell",
        w_popularity=1e308,
        w_context=float("nan"),
        bias=float("inf"),
        rules={"boost": {"category:Shirt": 1e308, f"product:{catalog[9].pk}": -1e308}},
    )
    for block in ("similar", "trending"):
        response = staff_api.get(
            "/api/stylerec/staff/recommendations/",
            {"block": block, "product_id": catalog[0].pk, "profile_id": profile.pk},
        )
        assert response.status_code == 200, response.content[:300]
        items = response.json()["items"]
        assert items and all(abs(item["score"]) < 1e6 for item in items)


def _rules_catalog():
    from tests.factories import make_product

    return [
        make_product(
            direction={i % 2: 1.0, 10 + i: 0.3}, category="Dress" if i % 2 else "Shirt", popularity=10.0 - i
        )
        for i in range(10)
    ]


def test_rules_editor_round_trips_to_the_rules_json(staff_client):
    products = _rules_catalog()
    p = [product.pk for product in products]
    rules = {
        "pin": [p[3], p[1]],
        "boost": {f"product:{p[4]}": 0.5, "category:Dress": 0.2},
        "block": [f"product:{p[5]}", "category:Sandals"],
        "cap": {"category:Dress": 2},
        "note": "kept",
    }
    profile = RankingProfile.objects.create(name="merch", rules=rules)
    html = staff_client.get(CHANGE.format(profile.pk)).content.decode()
    assert f'value="{p[3]}, {p[1]}"' in html and f'value="{p[4]}: 0.5"' in html
    assert 'data-category="Sandals"' in html and 'data-category="Shirt"' in html  # rule + catalog rows
    # Saved unchanged, the rules come back as they were.
    unchanged = change_form_data(profile)
    assert staff_client.post(CHANGE.format(profile.pk), unchanged).status_code == 302
    profile.refresh_from_db()
    assert profile.rules == rules
    # Edited through the fields: a new pin order, a category cap and block, a product boost gone.
    form = RankingProfileForm(instance=profile)
    index = {name: i for i, name in enumerate(form.category_names)}
    edited = change_form_data(
        profile,
        rule_pins=f"{p[1]}",
        rule_product_boosts="",
        **{
            f"cat_{index['Shirt']}_cap": 1,
            f"cat_{index['Shirt']}_block": "on",
            f"cat_{index['Dress']}_boost": -0.5,
        },
        **{f"cat_{index['Sandals']}_block": None},
    )
    assert staff_client.post(CHANGE.format(profile.pk), edited).status_code == 302
    profile.refresh_from_db()
    assert profile.rules == {
        "note": "kept",
        "pin": [p[1]],
        "boost": {"category:Dress": -0.5},
        "block": [f"product:{p[5]}", "category:Shirt"],
        "cap": {"category:Dress": 2, "category:Shirt": 1},
    }


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("rule_pins", "12, abc", "is not a product id"),
        ("rule_pins", "99999999", "No product with id 99999999"),
        ("rule_product_boosts", "{pk}: 1e308", "between -10 and 10"),
        ("rule_product_boosts", "{pk} 0.5", "write a product id, a colon and an amount"),
    ],
)
def test_rules_editor_rejects_bad_input_with_a_clear_error(staff_client, field, value, message):
    products = _rules_catalog()
    profile = RankingProfile.objects.create(name="merch")
    data = change_form_data(profile, **{field: value.format(pk=products[0].pk)})
    response = staff_client.post(CHANGE.format(profile.pk), data)
    assert response.status_code == 200 and message in response.content.decode()
    profile.refresh_from_db()
    assert profile.rules == {}


def test_a_category_cap_limits_that_category_in_a_block(db):
    from stylerec.ranking.engine import recommend
    from stylerec.ranking.types import RecommendationRequest

    products = _rules_catalog()
    shirts = {p.pk for p in products if p.category == "Shirt"}
    request = RecommendationRequest(block="trending", k=6)
    free = RankingProfile.objects.create(name="free", max_per_category=0, mmr_lambda=1.0)
    capped = RankingProfile.objects.create(
        name="capped", max_per_category=0, mmr_lambda=1.0, rules={"cap": {"category:Shirt": 1}}
    )
    assert len([i for i in recommend(request, profile=free).items if i.product.pk in shirts]) == 3
    assert len([i for i in recommend(request, profile=capped).items if i.product.pk in shirts]) == 1


def test_preview_shows_thumbnails_reasons_score_order_and_explains_mmr(staff_client, catalog):
    for product in catalog:
        product.image.save(f"p{product.pk}.jpg", ContentFile(b"\xff\xd8fake"), save=True)
    profile = RankingProfile.objects.create(name="baseline", is_active=True, mmr_lambda=0.3)
    data = change_form_data(profile)
    data.update(
        preview_profile_id=str(profile.pk), preview_product=str(catalog[0].pk), preview_block="similar"
    )
    data.update(preview_k="4")
    html = staff_client.post(PREVIEW, data).content.decode()
    after = html.split('data-side="after"')[1]
    assert after.count('class="thumb" src="/') == 4 and catalog[1].image.url.split("/")[-1] in html
    assert after.count('class="reason"') == 4
    assert "Why this order?" in html and "λ = 0.3" in html
    ranks = [int(r) for r in re.findall(r'data-score-rank="(\d+)"', after)]
    assert len(ranks) == 4 and ranks != [1, 2, 3, 4]  # λ = 0.3 reorders by variety
    # With MMR off the block is the score order.
    data["mmr_lambda"] = "1"
    data["max_per_category"] = "0"
    plain = staff_client.post(PREVIEW, data).content.decode().split('data-side="after"')[1]
    assert [int(r) for r in re.findall(r'data-score-rank="(\d+)"', plain)] == [1, 2, 3, 4]


def test_recommendations_page_is_on_the_admin_index_and_links_the_cockpit(staff_client):
    profile = RankingProfile.objects.create(name="baseline", is_active=True)
    index = staff_client.get("/admin/").content.decode()
    assert 'href="/admin/stylerec/recommendations/"' in index and ">Recommendations<" in index
    page = staff_client.get("/admin/stylerec/recommendations/")
    html = page.content.decode()
    assert page.status_code == 200
    for link in (
        "/admin/stylerec/rankingprofile/",
        f"/admin/stylerec/rankingprofile/{profile.pk}/change/#stylerec-preview",
        "/admin/stylerec/rankingprofile/ab/",
        "/admin/stylerec/artifactstate/status/",
        "/admin/stylerec/rankingprofile/evaluation/",
    ):
        assert f'href="{link}"' in html, link


def test_recommendations_page_is_staff_only(client, customer):
    client.force_login(customer)
    assert client.get("/admin/stylerec/recommendations/").status_code == 302


def test_ab_dashboard_states_the_difference_with_its_interval(staff_client):
    challenger = RankingProfile.objects.create(name="challenger")
    control = RankingProfile.objects.create(
        name="control", is_active=True, challenger=challenger, challenger_share=0.5
    )
    _events(control, "for_you", impressions=2000, clicks=80)
    _events(challenger, "for_you", impressions=2000, clicks=140)
    html = staff_client.get(AB).content.decode()
    verdict = re.search(r'id="stylerec-ab-verdict">(.*?)</p>', html, re.S).group(1)
    assert "+3.00 points" in verdict and "the challenger does better" in verdict
    low, high = (float(x) for x in re.search(r"interval\s+(-?[\d.]+\d) to (-?[\d.]+\d)", verdict).groups())
    assert 0 < low < 3 < high
