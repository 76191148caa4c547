"""The merchandiser's cockpit: live preview on the RankingProfile page, the A/B dashboard and
styled previews on the Style page."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.core.files.base import ContentFile
from django.forms.models import model_to_dict
from django.utils import timezone

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
    data.update(
        preview_profile_id=str(profile.pk),
        preview_customer="",
        preview_product=str(catalog[0].pk),
        preview_block="similar",
        preview_k="4",
    )
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
