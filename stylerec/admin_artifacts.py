"""The artifact pipeline in the admin: a status badge and filter on products, a "recompute"
action, and a status page with pending / stale / failed counts per kind
(``admin/stylerec/artifactstate/status/``).

Mixins, so ``stylerec.admin`` wires them in with one base class each (and a host with its own
product admin can do the same).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Case, Count, IntegerField, OuterRef, Subquery, Value, When
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from stylerec.models import ArtifactState, ArtifactStatus
from stylerec.services.artifacts import (
    IMAGE_CHECKING,
    IMAGE_QUARANTINED,
    KINDS,
    PRODUCT_IMAGE,
    PRODUCT_KINDS,
    artifacts_recompute,
    images_withheld,
)
from stylerec.services.styled import styled_images_mark_stale

BADGE_COLOURS = {
    ArtifactStatus.FAILED: "#ba2121",
    ArtifactStatus.STALE: "#b26a00",
    ArtifactStatus.PENDING: "#666",
    ArtifactStatus.READY: "#2e7d32",
}
# Worst first: a product shows the worst state of its artifacts.
SEVERITY = Case(
    When(status=ArtifactStatus.FAILED, then=Value(0)),
    When(status=ArtifactStatus.STALE, then=Value(1)),
    When(status=ArtifactStatus.PENDING, then=Value(2)),
    default=Value(3),
    output_field=IntegerField(),
)


class ExtraActionsMixin:
    """Adds ``extra_actions`` (method names) for users who may change objects, whatever the
    admin's own ``actions`` list says."""

    extra_actions: tuple[str, ...] = ()

    def get_actions(self, request: Any) -> Any:
        actions = super().get_actions(request)  # type: ignore[misc]
        if self.has_change_permission(request):  # type: ignore[attr-defined]
            for name in self.extra_actions:
                action = getattr(type(self), name)
                actions[name] = (action, name, action.short_description)
        return actions


class ArtifactStatusFilter(admin.SimpleListFilter):
    title = "artifact status"
    parameter_name = "artifact_status"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return [
            (s, ArtifactStatus(s).label)
            for s in (ArtifactStatus.FAILED, ArtifactStatus.STALE, ArtifactStatus.PENDING)
        ]

    def queryset(self, request: Any, queryset: Any) -> Any:
        if self.value() not in dict(self.lookups(request, None)):
            return queryset
        states = ArtifactState.objects.filter(kind__in=PRODUCT_KINDS, status=self.value())
        return queryset.filter(pk__in=states.values("object_id"))


class ProductArtifactsAdminMixin(ExtraActionsMixin):
    """Adds the artifact badge column, the status filter, the recompute action, and the photo's
    check on the change form (why a photo is quarantined: not shown in blocks nor the API)."""

    extra_actions = ("recompute_artifacts",)

    def get_readonly_fields(self, request: Any, obj: Any = None) -> Any:
        fields = tuple(super().get_readonly_fields(request, obj))  # type: ignore[misc]
        return fields if obj is None or "image_check" in fields else (*fields, "image_check")

    @admin.display(description="photo check")
    def image_check(self, obj: Any) -> str:
        if obj is None or obj.pk is None or not obj.image:
            return "—"
        why = images_withheld([obj]).get(obj.pk)
        if why == IMAGE_QUARANTINED:
            state = ArtifactState.objects.filter(kind=PRODUCT_IMAGE, object_id=obj.pk).first()
            return format_html(
                '<strong style="color:{}">Quarantined: not shown in blocks or the API.</strong> {}<br>'
                "Upload a new file, or fix the file and use the action "
                "\u201cRecompute vectors, style scores and styled images\u201d.",
                BADGE_COLOURS[ArtifactStatus.FAILED],
                state.error if state is not None else "",
            )
        if why == IMAGE_CHECKING:
            return "Waiting for its check by a worker; not shown until then."
        return "Shown."

    def get_queryset(self, request: Any) -> Any:
        worst = ArtifactState.objects.filter(kind__in=PRODUCT_KINDS, object_id=OuterRef("pk")).order_by(
            SEVERITY
        )
        return (
            super()  # type: ignore[misc]
            .get_queryset(request)
            .annotate(
                artifact_worst=Subquery(worst.values("status")[:1]),
                artifact_error=Subquery(worst.filter(status=ArtifactStatus.FAILED).values("error")[:1]),
            )
        )

    def get_list_display(self, request: Any) -> Any:
        return (*super().get_list_display(request), "artifact_badge")  # type: ignore[misc]

    def get_list_filter(self, request: Any) -> Any:
        return (*super().get_list_filter(request), ArtifactStatusFilter)  # type: ignore[misc]

    @admin.display(description="artifacts", ordering="artifact_worst")
    def artifact_badge(self, obj: Any) -> str:
        status = getattr(obj, "artifact_worst", None)
        if not status:
            return "—"
        return format_html(
            '<span title="{}" style="color:#fff;background:{};padding:1px 6px;border-radius:8px;'
            'font-size:11px">{}</span>',
            getattr(obj, "artifact_error", "") or "",
            BADGE_COLOURS.get(status, "#666"),
            ArtifactStatus(status).label.lower(),
        )

    @admin.action(description="Recompute vectors, style scores and styled images")
    def recompute_artifacts(self, request: Any, queryset: Any) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        for kind in PRODUCT_KINDS:
            artifacts_recompute(kind=kind, ids=ids)
        styled = styled_images_mark_stale(product_ids=ids)
        self.message_user(  # type: ignore[attr-defined]
            request,
            f"Queued {len(ids)} products for recomputation ({len(styled)} styled images).",
            messages.SUCCESS,
        )


def artifact_status_rows() -> list[dict[str, Any]]:
    """Per kind: how many objects exist and how many are pending, stale, failed, ready, or never
    tracked ("missing": saved before the pipeline ran, or with AUTO_COMPUTE off)."""
    rows = []
    for kind, spec in KINDS.items():
        states = spec.tracking.queryset(kind).order_by().values("status").annotate(n=Count("pk"))
        by_status = {row["status"]: row["n"] for row in states}
        total = spec.queryset().order_by().count()
        rows.append(_status_row(kind, total, by_status, tracked=sum(by_status.values())))
    return rows


def _status_row(kind: str, total: int, by_status: dict[str, int], *, tracked: int) -> dict[str, Any]:
    return {
        "kind": kind,
        "total": total,
        **{status: by_status.get(status, 0) for status in ArtifactStatus.values},
        "missing": max(total - tracked, 0),
    }


class ArtifactStatusPageMixin(ExtraActionsMixin):
    """Adds the status page to the ArtifactState admin, and a recompute action for its rows."""

    extra_actions = ("recompute_states",)

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(self.status_view)  # type: ignore[attr-defined]
        return [path("status/", view, name="stylerec_artifactstate_status"), *super().get_urls()]  # type: ignore[misc]

    def status_view(self, request: Any) -> TemplateResponse:
        if not self.has_view_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        changelist = reverse(f"{self.admin_site.name}:stylerec_artifactstate_changelist")  # type: ignore[attr-defined]
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "title": "Artifact pipeline status",
            "opts": self.model._meta,  # type: ignore[attr-defined]
            "rows": artifact_status_rows(),
            "statuses": ["pending", "stale", "failed", "ready"],
            "changelist": changelist,
        }
        return TemplateResponse(request, "admin/stylerec/artifact_status.html", context)

    @admin.action(description="Recompute the selected artifacts")
    def recompute_states(self, request: Any, queryset: Any) -> None:
        by_kind: dict[str, list[int]] = {}
        for kind, object_id in queryset.filter(kind__in=list(KINDS)).values_list("kind", "object_id"):
            by_kind.setdefault(kind, []).append(object_id)
        for kind, ids in by_kind.items():
            artifacts_recompute(kind=kind, ids=ids)
        count = sum(map(len, by_kind.values()))
        self.message_user(request, f"Queued {count} artifacts.", messages.SUCCESS)  # type: ignore[attr-defined]
