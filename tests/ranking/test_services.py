"""Customer profiles, inferred style preferences, the periodic refresh and its schedule."""

import numpy as np
import pytest
from django.conf import settings

from stylerec.models import CustomerProfile, Interaction, StylePreference, get_product_model
from stylerec.ranking.collaborative import neighbours_for
from stylerec.ranking.tasks import collaborative_refresh_task
from stylerec.services.events import interaction_record
from stylerec.services.profiles import customer_profile_refresh
from tests.factories import (
    make_established,
    make_order,
    make_product,
    make_review,
    make_style,
    make_user,
)

pytestmark = pytest.mark.django_db


def _vector(user):
    return np.asarray(CustomerProfile.objects.get(user=user).text_vector)


def test_profile_weighs_purchases_above_views():
    user = make_user()
    bought, viewed = make_product(direction=1), make_product(direction=2)
    for _ in range(2):
        interaction_record(kind="view", user=user, product_id=viewed.pk)
    make_order(bought.pk, user=user)
    vector = _vector(user)
    assert vector[1] > vector[2] > 0  # one purchase (4) beats two views (2)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_a_negative_review_pushes_the_profile_away_from_the_product():
    user = make_user()
    liked, regretted = make_product(direction=1), make_product(direction=2)
    make_order(liked.pk, user=user)
    make_order(regretted.pk, user=user)
    make_review(regretted, user=user, rating=1, sentiment_score=-0.9, text="Awful")
    customer_profile_refresh(user_id=user.pk)
    vector = _vector(user)
    assert vector[1] > 0 > vector[2]


def test_anonymous_session_gets_a_profile():
    product = make_product(direction=3)
    interaction_record(kind="view", session_key="sess", product_id=product.pk)
    profile = CustomerProfile.objects.get(user=None, session_key="sess")
    assert np.asarray(profile.text_vector)[3] == pytest.approx(1.0)


def test_inferred_styles_from_reviews_searches_and_behaviour_leave_explicit_choices_alone():
    retro, boho, minimal = (
        make_style("retro"),
        make_style("boho"),
        make_style("minimalist", keywords="clean,simple"),
    )
    user = make_user()
    StylePreference.objects.create(user=user, style=minimal, weight=-0.5)  # explicit
    product = make_product(direction=1, style_scores={"boho": 0.8})
    review = make_review(product, user=user)
    review.preferences = [{"kind": "style", "key": "retro", "polarity": 1.0}]
    review.save()
    make_order(product.pk, user=user)
    interaction_record(kind="search", user=user, query="simple linen shirt")
    rows = {(p.style.slug, p.source): p.weight for p in StylePreference.objects.filter(user=user)}
    assert rows[("retro", "reviews")] == pytest.approx(1.0)
    assert rows[("minimalist", "searches")] > 0
    assert rows[("boho", "behaviour")] == pytest.approx(0.8)
    assert rows[("minimalist", "explicit")] == -0.5
    # behaviour preferences follow behaviour: when it changes, stale rows go
    get_product_model().objects.filter(pk=product.pk).update(style_scores={})
    customer_profile_refresh(user_id=user.pk)
    assert not StylePreference.objects.filter(user=user, source="behaviour").exists()
    assert retro.pk and boho.pk


def test_interaction_record_validates_its_input():
    with pytest.raises(ValueError):
        interaction_record(kind="teleport", session_key="s")
    with pytest.raises(ValueError):
        interaction_record(kind="view", session_key="s", product_id=999999)


def test_purchase_counts_as_a_sale():
    product = make_product(direction=1)
    make_order(product.pk, session_key="s")
    product.refresh_from_db()
    assert product.sales_count == 1


def test_collaborative_refresh_updates_popularity_and_neighbours():
    a, b, quiet = (
        make_product(direction=1),
        make_product(direction=2),
        make_product(direction=3, popularity=5.0),
    )
    user = make_user()
    make_established(user)  # a new account's interactions weigh little (stylerec.trust)
    make_order(a.pk, user=user)
    interaction_record(kind="view", user=user, product_id=b.pk)
    report = collaborative_refresh_task()
    popularity = dict(get_product_model().objects.values_list("pk", "popularity"))
    assert popularity[a.pk] == pytest.approx(4.0, rel=1e-3)  # one fresh purchase
    assert popularity[b.pk] == pytest.approx(1.0, rel=1e-3)
    assert popularity[quiet.pk] == 0.0  # decayed interaction count: no interactions, no popularity
    assert report["products"] == 2
    Interaction.objects.all().delete()  # the cached neighbour lists outlive the rows they came from
    assert neighbours_for(product_ids=[a.pk], relation="co_view")[a.pk] == [(b.pk, pytest.approx(1.0))]


def test_collaborative_refresh_is_scheduled_and_its_module_imported_by_workers():
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert any(entry["task"] == collaborative_refresh_task.name for entry in schedule.values())
    assert "stylerec.ranking.tasks" in settings.CELERY_IMPORTS


def test_customer_style_weights_merges_sources_with_explicit_first():
    from stylerec.selectors import customer_style_weights

    retro, boho = make_style("retro"), make_style("boho")
    StylePreference.objects.create(session_key="s", style=retro, weight=-0.2, source="explicit")
    StylePreference.objects.create(session_key="s", style=retro, weight=0.9, source="behaviour")
    StylePreference.objects.create(session_key="s", style=boho, weight=0.4, source="searches")
    StylePreference.objects.create(session_key="s", style=boho, weight=0.8, source="reviews")
    assert customer_style_weights(session_key="s") == {"retro": -0.2, "boho": pytest.approx(0.6)}
