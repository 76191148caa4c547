"""stylerec's API documents itself with drf-spectacular, whatever the host's
``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]`` says.

DRF's default schema class is its own (``rest_framework.schemas.openapi.AutoSchema``), which
drf-spectacular cannot use, so ``/api/stylerec/schema/`` answered 500 in every host that had not set
the setting. Here:

* every API view carries drf-spectacular's ``AutoSchema`` (``SchemaMixin``);
* ``extend_schema`` builds on that class (drf-spectacular's decorator reads DEFAULT_SCHEMA_CLASS when
  the view module is imported, and would build on DRF's class);
* the schema view documents stylerec's own endpoints only: the host's views may use any schema class.

``StylerecAutoSchema`` (drf-spectacular's, plus what the generated schema left out) documents the
error answers each operation can give (400, 401, 403, 404, 429, with DRF's error bodies), types the
``<stylerec_id:...>`` path ids as integers of at least 1, and sets the maximum of ``k`` from
``MAX_K`` when the schema is generated: a client (or a fuzzer) that follows the schema gets no
answer the schema does not describe. ``SchemaMixin`` also gives every API view stylerec's parsers
(``stylerec.api.parsers``: JSON with a depth limit), whatever the host's DEFAULT_PARSER_CLASSES.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import extend_schema as spectacular_extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.schemas.inspectors import ViewInspector

from stylerec.api.parsers import API_PARSER_CLASSES
from stylerec.conf import stylerec_settings

# The ids in stylerec's URLs (``stylerec.urls.IdConverter``): digits that fit a bigint.
ID_PATTERN = "^[0-9]{1,18}$"
ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": 10**18 - 1}
UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")

_DETAIL = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
    "description": "DRF's error body: a message in ``detail``.",
}
_INVALID = {
    "type": "object",
    "additionalProperties": {},
    "description": "DRF's validation errors: a list of messages per parameter or field "
    "(``non_field_errors`` for the whole body), or a ``detail`` message for a body that does not parse.",
}
ERROR_COMPONENTS = {"ValidationErrorBody": _INVALID, "ErrorDetail": _DETAIL}
ERROR_RESPONSES = {
    "400": (
        "The parameters or the body are invalid (see the body for which and why).",
        "ValidationErrorBody",
    ),
    "401": ("Credentials were sent and are wrong, or signing in is required.", "ErrorDetail"),
    "403": ("Not allowed: staff only, sign-in required, or a missing CSRF token.", "ErrorDetail"),
    "404": ("No such object (or page).", "ErrorDetail"),
    "429": ("Too many requests: rate-limited; retry after the Retry-After header's seconds.", "ErrorDetail"),
}


class StylerecAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, with the error answers documented (see the module)."""

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        for code in self._error_codes():
            description, component = ERROR_RESPONSES[code]
            self.registry.register_on_missing(
                ResolvedComponent(
                    name=component,
                    type=ResolvedComponent.SCHEMA,
                    object=component,
                    schema=ERROR_COMPONENTS[component],
                )
            )
            content: dict[str, Any] = {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{component}"}}
            }
            if code == "404" and "{" in self.path:
                # An id that is not 1 to 18 digits matches no URL: the host's own 404 page answers.
                content["text/html"] = {"schema": {"type": "string"}}
            responses.setdefault(code, {"description": description, "content": content})
        return responses

    def _error_codes(self) -> list[str]:
        parameters = self._get_parameters()
        query = [p for p in parameters if p.get("in") == "query" and p.get("name") != "page"]
        paged = any(p.get("in") == "query" and p.get("name") == "page" for p in parameters)
        unsafe = self.method in UNSAFE_METHODS
        open_to_all = all(isinstance(p, AllowAny) for p in self.view.get_permissions())
        codes = []
        if unsafe or query:
            codes.append("400")
        codes.append("401")  # wrong credentials, with any authentication that answers 401
        if unsafe or not open_to_all:
            codes.append("403")  # CSRF of session authentication, or a permission
        if "{" in self.path or paged:
            codes.append("404")
        codes.append("429")  # stylerec's own rate limits, or the host's DEFAULT_THROTTLE_CLASSES
        return codes

    def _get_parameters(self) -> list[dict[str, Any]]:
        parameters = super()._get_parameters()
        max_k = stylerec_settings.MAX_K
        for parameter in parameters:
            schema = parameter.get("schema") or {}
            if parameter.get("in") == "path" and schema.get("pattern") == ID_PATTERN:
                parameter["schema"] = dict(ID_SCHEMA)
            elif parameter.get("in") == "query" and parameter.get("name") == "k" and isinstance(max_k, int):
                parameter["schema"] = {**schema, "maximum": max_k}
        return parameters


class SchemaMixin:
    """Base of stylerec's API views: drf-spectacular's AutoSchema, set on the view itself, and
    stylerec's parsers (a depth-limited JSON parser), whatever the host's defaults say."""

    schema: ViewInspector | None = StylerecAutoSchema()  # APIView's declared type, so the mixin fits it
    parser_classes: Sequence[type[BaseParser]] = API_PARSER_CLASSES


def extend_schema(**kwargs: Any) -> Callable[[Any], Any]:
    """drf-spectacular's ``extend_schema`` for a view method, built on its ``AutoSchema``."""
    decorate = spectacular_extend_schema(**kwargs)

    def decorator(view_method: Any) -> Any:
        existing = getattr(view_method, "kwargs", None) or {}
        if "schema" not in existing:
            view_method.kwargs = {**existing, "schema": StylerecAutoSchema}
        return decorate(view_method)

    return decorator


def _documented(callback: Any) -> bool:
    """stylerec's own API views (at the paths the host mounted them), not the schema and docs
    views. A stylerec view without ``SchemaMixin`` fails here loudly (drf-spectacular's assertion)
    in a host without the setting: tests/install/test_schema_without_the_setting.py."""
    cls = getattr(callback, "cls", None)
    return (
        isinstance(cls, type)
        and cls.__module__.startswith("stylerec.")
        and not issubclass(cls, (SpectacularAPIView, SpectacularSwaggerView))
    )


class StylerecSchemaGenerator(SchemaGenerator):
    """The endpoints of stylerec's API only."""

    def _initialise_endpoints(self) -> None:
        super()._initialise_endpoints()
        # Set just above, as drf-spectacular's (path, path_regex, method, callback); the DRF stubs
        # type them as DRF's own (path, method, callback).
        endpoints = cast("list[Any]", self.endpoints)
        self.endpoints = [endpoint for endpoint in endpoints if _documented(endpoint[3])]


class StylerecSchemaView(SpectacularAPIView):
    """``/api/stylerec/schema/``: the OpenAPI document of stylerec's API."""

    generator_class = StylerecSchemaGenerator
