"""Issue #13.6: a cross-site GET of a click link recorded a click for the signed-in customer.

Any page on the web could embed ``<img src="https://store/r/for_you/42/">`` and write click events
(and so shape the recommendations) of whoever visits it signed in. A click is now recorded only
when the request comes from the store's own pages: ``Sec-Fetch-Site`` when the browser sends it,
else the ``Origin``/``Referer`` host against the request's host. The redirect always happens.
"""

from __future__ import annotations

import pytest

from stylerec.models import Interaction

pytestmark = pytest.mark.django_db

HOST = "testserver"


def _click(client, product, **headers):
    response = client.get(f"/r/for_you/{product.pk}/?pos=1", **headers)
    assert response.status_code == 302
    assert response["Location"].startswith(f"/p/{product.pk}/")  # always lands on the product
    return Interaction.objects.filter(kind=Interaction.Kind.CLICK).count()


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_SEC_FETCH_SITE": "cross-site"},
        {"HTTP_SEC_FETCH_SITE": "cross-site", "HTTP_REFERER": f"http://{HOST}/p/1/"},  # the header wins
        {"HTTP_SEC_FETCH_SITE": "none"},  # typed or bookmarked: not a click on a block
        {"HTTP_REFERER": "https://evil.example/page"},
        {"HTTP_ORIGIN": "https://evil.example"},
        {"HTTP_REFERER": f"https://{HOST}.evil.example/"},
        {"HTTP_ORIGIN": "null"},
        {},  # no evidence at all: an old browser on a page that strips the Referer
    ],
    ids=["fetch-cross-site", "fetch-wins", "fetch-none", "referer", "origin", "lookalike", "null", "none"],
)
def test_a_cross_site_click_redirects_without_recording(client, customer, catalog, headers):
    client.force_login(customer)
    assert _click(client, catalog[0], **headers) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_SEC_FETCH_SITE": "same-origin"},
        {"HTTP_SEC_FETCH_SITE": "same-site"},
        {"HTTP_REFERER": f"http://{HOST}/p/3/"},  # a browser without Sec-Fetch-*
        {"HTTP_ORIGIN": f"http://{HOST}"},
    ],
    ids=["fetch-same-origin", "fetch-same-site", "referer", "origin"],
)
def test_a_same_site_click_is_recorded(client, customer, catalog, headers):
    client.force_login(customer)
    assert _click(client, catalog[0], **headers) == 1
    click = Interaction.objects.get(kind=Interaction.Kind.CLICK)
    assert (click.user, click.product_id, click.block, click.position) == (
        customer,
        catalog[0].pk,
        "for_you",
        1,
    )
