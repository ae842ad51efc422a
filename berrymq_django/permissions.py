"""Who may call the JSON-RPC endpoint: key holders and staff, or anyone when opened."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from .authentication import APIKeyClient
from .conf import berrymq_settings

__all__ = ["IsBerryMQClient"]


class IsBerryMQClient(BasePermission):
    """Allow API key holders and logged-in staff; everyone if BERRYMQ["ALLOW_ANONYMOUS"]."""

    message = "The berryMQ endpoint needs an API key (Authorization: Bearer) or a staff session."

    def has_permission(self, request: Request, view: Any) -> bool:
        if berrymq_settings.ALLOW_ANONYMOUS:
            return True
        user = request.user
        return isinstance(user, APIKeyClient) or bool(
            user and user.is_authenticated and user.is_staff
        )
