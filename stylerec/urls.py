"""stylerec's URLconf. Hosts add one line, ``path("", include("stylerec.urls"))``, and get

- ``api/stylerec/``          the REST API, its OpenAPI schema (``schema/``) and docs (``docs/``)
- ``r/<block>/<id>/``        click links of recommendation blocks (record, then redirect)
- ``r/event/``               form posts: add to cart / buy now from a block (redirects to ``next``)
- ``r/impressions/``         the impression beacon of ``stylerec.js``
"""

from django.urls import include, path, register_converter

from stylerec import views


class IdConverter:
    """Primary keys in URLs: digits that fit a bigint, so a huge number is a 404, not a 500."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "stylerec_id")

app_name = "stylerec"
urlpatterns = [
    path("api/stylerec/", include("stylerec.api.urls")),
    path("r/event/", views.event_create, name="event"),
    path("r/impressions/", views.impressions_create, name="impressions"),
    path("r/<slug:block>/<stylerec_id:product_id>/", views.click_redirect, name="click"),
]
