"""Who may see the dashboard: logged-in, active staff; everyone else is turned away.

Anonymous visitors are sent to the admin login (and back after it); a
logged-in user who is not staff gets 403. The dashboard renders in the
admin's templates, so without ``django.contrib.admin`` it answers 404 with
a message saying so.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from django.apps import apps
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse

__all__ = ["staff_only"]

View = TypeVar("View", bound=Callable[..., HttpResponse])

NEEDS_ADMIN = "The berryMQ dashboard needs 'django.contrib.admin' in INSTALLED_APPS."


def staff_only(view: View) -> View:
    """Wrap view so that only active staff reach it (see the module docstring)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if not apps.is_installed("django.contrib.admin"):
            raise Http404(NEEDS_ADMIN)
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        if not (user.is_active and user.is_staff):
            raise PermissionDenied("The berryMQ dashboard is for staff only.")
        return view(request, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
