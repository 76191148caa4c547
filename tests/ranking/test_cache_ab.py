"""Caching, real-time invalidation and A/B assignment."""

import pytest

from stylerec.models import Interaction
from stylerec.ranking.profiles import ab_bucket, profile_for_request
from stylerec.services.events import interaction_record
from tests.factories import make_order, make_product, make_user

from .conftest import ids, make_ranking_profile, recommend

pytestmark = pytest.mark.django_db


def test_second_request_is_served_from_the_cache():
    make_product(direction=1)
    user = make_user()
    assert recommend(user_id=user.pk).cached is False
    again = recommend(user_id=user.pk)
    assert again.cached is True and len(again.items) == 1


def test_an_event_invalidates_the_customers_cache_at_once(active_profile):
    active_profile(only={"history": 1.0})
    user = make_user()
    first, second = make_product(direction=1), make_product(direction=2)
    assert set(ids(recommend(user_id=user.pk))) == {first.pk, second.pk}
    make_order(first.pk, user=user)
    result = recommend(user_id=user.pk)
    assert result.cached is False
    assert ids(result) == [second.pk]  # the purchase is excluded and the profile moved


def test_impressions_keep_the_cache():
    product = make_product(direction=1)
    user = make_user()
    recommend(user_id=user.pk)
    interaction_record(kind="impression", user=user, product_id=product.pk, block="for_you")
    assert recommend(user_id=user.pk).cached is True


def test_a_reload_is_not_a_new_view_and_keeps_the_cache():
    product, other = make_product(direction=1), make_product(direction=2)
    user = make_user()
    first = interaction_record(kind="view", user=user, product_id=product.pk)
    recommend(user_id=user.pk)
    again = interaction_record(kind="view", user=user, product_id=product.pk)
    assert again.pk == first.pk and again.product_id == product.pk  # the earlier view, no new row
    assert Interaction.objects.filter(user=user, kind="view").count() == 1
    assert recommend(user_id=user.pk).cached is True  # nothing to re-rank
    # Another product in between: viewing the first one again is a new view.
    interaction_record(kind="view", user=user, product_id=other.pk)
    interaction_record(kind="view", user=user, product_id=product.pk)
    assert Interaction.objects.filter(user=user, kind="view").count() == 3


def test_after_erasure_the_same_view_is_recorded_anew():
    from stylerec.services.privacy import customer_erase

    product = make_product(direction=1)
    user = make_user()
    interaction_record(kind="view", user=user, product_id=product.pk)
    customer_erase(user_id=user.pk)
    again = interaction_record(kind="view", user=user, product_id=product.pk)
    assert Interaction.objects.filter(pk=again.pk, user=user, kind="view").exists()


def test_every_view_counts_when_repeat_views_are_switched_off(settings):
    settings.STYLEREC = {"REPEAT_VIEW_SECONDS": 0}
    product = make_product(direction=1)
    user = make_user()
    interaction_record(kind="view", user=user, product_id=product.pk)
    interaction_record(kind="view", user=user, product_id=product.pk)
    assert Interaction.objects.filter(user=user, kind="view").count() == 2


def test_another_customers_event_does_not_touch_my_cache():
    product = make_product(direction=1)
    me, other = make_user(), make_user()
    recommend(user_id=me.pk)
    interaction_record(kind="view", user=other, product_id=product.pk)
    assert recommend(user_id=me.pk).cached is True


def test_recommendations_are_served_when_the_cache_is_down(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    make_product(direction=1)
    user = make_user()
    result = recommend(user_id=user.pk)
    assert len(result.items) == 1 and result.cached is False
    interaction_record(kind="view", user=user, product_id=result.items[0].product.pk)


def test_ab_assignment_is_stable_and_splits_by_share():
    challenger = make_ranking_profile(name="challenger", w_history=2.0)
    active = make_ranking_profile(name="active", is_active=True, challenger=challenger, challenger_share=0.3)
    users = [make_user() for _ in range(200)]
    chosen = [profile_for_request(user_id=u.pk, session_key="").pk for u in users]
    assert chosen == [profile_for_request(user_id=u.pk, session_key="").pk for u in users]
    share = chosen.count(challenger.pk) / len(chosen)
    assert 0.2 < share < 0.4
    assert set(chosen) == {active.pk, challenger.pk}
    bucket = ab_bucket(profile_id=active.pk, user_id=None, session_key="abc")
    assert bucket == ab_bucket(profile_id=active.pk, user_id=None, session_key="abc")


def test_result_names_its_profile_and_events_record_which_profile_served():
    challenger = make_ranking_profile(name="challenger")
    make_ranking_profile(name="active", is_active=True, challenger=challenger, challenger_share=1.0)
    product = make_product(direction=1)
    result = recommend(session_key="visitor")
    assert (result.profile_id, result.profile_version) == (challenger.pk, challenger.version)
    click = interaction_record(
        kind="click",
        session_key="visitor",
        product_id=product.pk,
        block="for_you",
        profile_id=result.profile_id,
        position=0,
    )
    assert Interaction.objects.get(pk=click.pk).profile_id == challenger.pk


def test_forced_profile_for_admin_preview_bypasses_ab_and_cache():
    preview = make_ranking_profile(name="preview")
    make_ranking_profile(name="active", is_active=True)
    make_product(direction=1)
    first = recommend(profile_id=preview.pk)
    assert first.profile_id == preview.pk
    assert recommend(profile_id=preview.pk).cached is False


def test_without_any_profile_the_defaults_serve():
    make_product(direction=1)
    result = recommend()
    assert result.profile_id is None and len(result.items) == 1


def test_with_a_broker_the_profile_refresh_goes_through_a_task_after_commit(
    settings, monkeypatch, django_capture_on_commit_callbacks
):
    import stylerec.services.queue

    settings.CELERY_TASK_ALWAYS_EAGER = False
    product = make_product(direction=1)
    user = make_user()
    recommend(user_id=user.pk)
    sent = []
    monkeypatch.setattr(
        stylerec.services.queue, "task_enqueue", lambda name, *args, **kwargs: sent.append((name, args))
    )
    with django_capture_on_commit_callbacks(execute=True):
        interaction_record(kind="view", user=user, product_id=product.pk)
        assert sent == []  # nothing leaves before the event is committed
    # once, through the pipeline's task (its Interaction receiver stands aside for interaction_record)
    assert sent == [("stylerec.customer_profile_refresh", (user.pk, ""))]
    assert recommend(user_id=user.pk).cached is False  # invalidated without waiting for the worker


def test_stylerecs_redis_backend_serves_blocks_with_one_client_per_pool(settings):
    """``stylerec.cache.RedisCache`` is Django's, but keeps one Redis client instead of building
    one per call; against a real Redis, a block is cached and served from it, and an event still
    invalidates it."""
    import uuid

    from django.core.cache import caches

    settings.CACHES = {
        **settings.CACHES,
        "stylerec_redis": {
            "BACKEND": "stylerec.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/12",  # entries expire (CACHE_TIMEOUT)
            "KEY_PREFIX": f"test-{uuid.uuid4().hex[:8]}",
        },
    }
    settings.STYLEREC = {**settings.STYLEREC, "CACHE_ALIAS": "stylerec_redis"}
    cache = caches["stylerec_redis"]
    client = cache._cache.get_client(write=True)
    assert cache._cache.get_client(write=True) is client and cache._cache.get_client() is client
    make_product(direction=1)
    user = make_user()
    assert recommend(user_id=user.pk).cached is False
    assert recommend(user_id=user.pk).cached is True
    interaction_record(kind="view", user=user, product_id=make_product(direction=2).pk)
    assert recommend(user_id=user.pk).cached is False
