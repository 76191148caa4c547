"""Style preference changes and interactions saved outside interaction_record refresh the profile."""

from __future__ import annotations

import pytest
from django.utils import timezone

from stylerec.models import CustomerProfile, Interaction, StylePreference
from stylerec.services.events import profile_refresh_handled
from tests.factories import make_product, make_style, make_user

pytestmark = pytest.mark.django_db


def test_explicit_style_preference_refreshes_the_profile(model_log, django_capture_on_commit_callbacks):
    user = make_user()
    style = make_style("retro")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        StylePreference.objects.create(user=user, style=style, weight=1.0)
    assert len(callbacks) == 1
    assert CustomerProfile.objects.filter(user=user).exists()


def test_an_interaction_saved_directly_refreshes_without_a_loop(
    model_log, django_capture_on_commit_callbacks
):
    user = make_user()
    make_style("retro")
    product = make_product(direction=3, style_scores={"retro": 1.0})
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        Interaction.objects.create(user=user, product=product, kind="purchase", created_at=timezone.now())
    profile = CustomerProfile.objects.get(user=user)
    assert profile.interaction_count == 1
    # the refresh wrote inferred preferences; they did not trigger another refresh
    assert StylePreference.objects.filter(user=user, source=StylePreference.Source.BEHAVIOUR).exists()
    assert len(callbacks) == 1


def test_impressions_and_handled_interactions_trigger_nothing(model_log, django_capture_on_commit_callbacks):
    user = make_user()
    product = make_product()
    with django_capture_on_commit_callbacks() as callbacks:
        Interaction.objects.create(user=user, product=product, kind="impression", created_at=timezone.now())
        with profile_refresh_handled():
            Interaction.objects.create(user=user, product=product, kind="click", created_at=timezone.now())
    assert callbacks == []
