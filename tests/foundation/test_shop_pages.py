import pytest
from django.urls import reverse

from stylerec.models import Review
from tests.factories import make_product, make_user


@pytest.mark.django_db
def test_missing_product_is_404(client):
    assert client.get(reverse("shop:product", args=[999999])).status_code == 404


@pytest.mark.django_db
def test_catalog_filters_by_category_and_search_and_paginates(client):
    for n in range(30):
        make_product(title=f"Retro tee {n}", category="T-shirt")
    make_product(title="Minimal bag", category="Bag")
    page = client.get(reverse("shop:catalog"), {"category": "Bag"})
    assert [p.title for p in page.context["page"].object_list] == ["Minimal bag"]
    page = client.get(reverse("shop:catalog"), {"q": "retro"})
    assert page.context["page"].paginator.count == 30 and len(page.context["page"].object_list) == 24
    assert client.get(reverse("shop:catalog"), {"q": "retro", "page": 2}).context["page"].number == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"rating": 5, "text": "   "}, "text"),
        ({"rating": 5, "text": "x" * 5001}, "text"),
        ({"rating": 6, "text": "ok"}, "rating"),
        ({"rating": 0, "text": "ok"}, "rating"),
        ({"rating": "five", "text": "ok"}, "rating"),
    ],
)
def test_review_form_rejects_bad_input(client, data, field):
    product = make_product()
    client.force_login(make_user())
    response = client.post(reverse("shop:review_create", args=[product.pk]), data)
    assert response.status_code == 400
    assert field in response.context["review_form"].errors
    assert not Review.objects.exists()


@pytest.mark.django_db
def test_signed_in_customer_posts_a_review(client):
    product = make_product()
    user = make_user()
    client.force_login(user)
    response = client.post(
        reverse("shop:review_create", args=[product.pk]), {"rating": 4, "text": "Lovely retro look"}
    )
    assert response.status_code == 302
    review = Review.objects.get()
    assert (review.user, review.product, review.rating, review.verified_purchase) == (user, product, 4, False)


@pytest.mark.django_db
def test_anonymous_customer_cannot_post_a_review(client):
    product = make_product()
    response = client.post(reverse("shop:review_create", args=[product.pk]), {"rating": 4, "text": "hi"})
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert not Review.objects.exists()


@pytest.mark.django_db
def test_styles_page_saves_the_choice_and_drops_a_deactivated_style(client):
    from stylerec.models import StylePreference
    from tests.factories import make_style

    retro, _ = make_style("retro"), make_style("minimalist")
    assert client.post(reverse("shop:styles"), {"style_retro": "1"}).status_code == 302
    retro.is_active = False
    retro.save()
    assert client.post(reverse("shop:styles"), {"style_minimalist": "0.5"}).status_code == 302
    stored = StylePreference.objects.get()  # an anonymous visitor's choice lives in the session
    assert (stored.style.slug, stored.weight, stored.user) == ("minimalist", 0.5, None)
    # ... under its pseudonym, never the session key (a session key signs its holder in)
    assert stored.session_key == client.session["_stylerec_customer"] != client.session.session_key
    assert client.get(reverse("shop:styles")).context["rows"][0][1] == 0.5
