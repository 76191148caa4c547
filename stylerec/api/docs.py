"""The API docs page (Swagger UI) with its assets served locally: no CDN is ever contacted.

The assets come from the ``drf-spectacular-sidecar`` package. When the host lists
``drf_spectacular_sidecar`` in ``INSTALLED_APPS`` they are ordinary static files (collectstatic,
a CDN of the host's own); otherwise this module serves the few files straight from the package,
so the docs work with no extra setting."""

from __future__ import annotations

from pathlib import Path

from django.apps import apps
from django.http import FileResponse, Http404, HttpRequest
from django.templatetags.static import static
from django.urls import reverse
from drf_spectacular.views import SpectacularSwaggerView

SWAGGER_FILES = frozenset(
    {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png"}
)


def _sidecar_dir() -> Path:
    import drf_spectacular_sidecar

    return (
        Path(drf_spectacular_sidecar.__file__).parent
        / "static"
        / "drf_spectacular_sidecar"
        / "swagger-ui-dist"
    )


def _asset_url(filename: str) -> str:
    if apps.is_installed("drf_spectacular_sidecar"):
        return static(f"drf_spectacular_sidecar/swagger-ui-dist/{filename}")
    return reverse("stylerec:api-docs-asset", args=[filename])


class SwaggerDocsView(SpectacularSwaggerView):
    title = "stylerec API"

    @staticmethod
    def _swagger_ui_resource(filename: str) -> str:
        return _asset_url(filename)

    @staticmethod
    def _swagger_ui_favicon() -> str:
        return _asset_url("favicon-32x32.png")


def swagger_asset(request: HttpRequest, path: str) -> FileResponse:
    """One of the four Swagger UI files, from the installed sidecar package (cached a day)."""
    if path not in SWAGGER_FILES:
        raise Http404("not a Swagger UI asset")
    response = FileResponse(open(_sidecar_dir() / path, "rb"))  # noqa: SIM115 - FileResponse closes it
    response["Cache-Control"] = "public, max-age=86400"
    return response
