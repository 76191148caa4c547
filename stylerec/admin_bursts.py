"""Shilling in the admin: the "Suspicious bursts" page of the Interaction admin
(``admin/stylerec/interaction/bursts/``) lists products that many new, low-trust customers took up
within hours (``stylerec.trust.bursts_find``), and purges a burst (``services.bursts``).

A mixin, so ``stylerec.admin`` wires it in with one base class (a host with its own Interaction
admin can do the same)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from stylerec.services.bursts import burst_purge
from stylerec.trust import BURST_HOURS, BURST_MIN_CUSTOMERS, BURST_MIN_SHARE, LOW_TRUST, bursts_find


def _number(value: Any, default: float, *, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return min(max(number, low), high)


class BurstsPageMixin:
    """Adds the "Suspicious bursts" page (listing, and a purge button per burst)."""

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(self.bursts_view)  # type: ignore[attr-defined]
        return [path("bursts/", view, name="stylerec_interaction_bursts"), *super().get_urls()]  # type: ignore[misc]

    def bursts_view(self, request: Any) -> Any:
        if not self.has_view_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        source = request.POST if request.method == "POST" else request.GET
        hours = _number(source.get("hours"), BURST_HOURS, low=1, high=24 * 30)
        min_customers = int(_number(source.get("min_customers"), BURST_MIN_CUSTOMERS, low=2, high=10_000))
        url = reverse(f"{self.admin_site.name}:stylerec_interaction_bursts")  # type: ignore[attr-defined]
        if request.method == "POST":
            if not self.has_delete_permission(request):  # type: ignore[attr-defined]
                raise PermissionDenied
            product_id = int(_number(request.POST.get("product_id"), 0, low=0, high=2**62))
            report = burst_purge(product_id=product_id, hours=hours)
            self.message_user(  # type: ignore[attr-defined]
                request,
                f"Purged {report.customers} customers ({report.accounts_deactivated} accounts "
                f"deactivated): {report.interactions} interactions and {report.reviews} reviews "
                f"deleted; the signals of {report.products} products refreshed.",
                messages.SUCCESS,
            )
            return HttpResponseRedirect(f"{url}?hours={hours:g}&min_customers={min_customers}")
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "title": "Suspicious bursts",
            "opts": self.model._meta,  # type: ignore[attr-defined]
            "changelist": reverse(f"{self.admin_site.name}:stylerec_interaction_changelist"),  # type: ignore[attr-defined]
            "bursts": bursts_find(hours=hours, min_customers=min_customers),
            "hours": f"{hours:g}",
            "min_customers": min_customers,
            "min_share": BURST_MIN_SHARE,
            "low_trust": LOW_TRUST,
            "can_purge": self.has_delete_permission(request),  # type: ignore[attr-defined]
        }
        return TemplateResponse(request, "admin/stylerec/bursts.html", context)
