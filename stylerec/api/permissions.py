"""Who may call what. Customers only ever see their own data (their identity comes from the
session or token, never from a parameter); staff-only endpoints use ``IsStaff``."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission


class IsStaff(BasePermission):
    message = "Only staff may read other customers' recommendations."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)


class ReadAnyoneWriteSignedIn(BasePermission):
    """Reviews: everyone reads, only signed-in customers write (a review has an author)."""

    message = "Sign in to write a review."

    def has_permission(self, request, view) -> bool:
        return request.method in SAFE_METHODS or bool(request.user and request.user.is_authenticated)
