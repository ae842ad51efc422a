"""Bridge model saves and deletes to berryMQ messages (the MODEL_EVENTS setting).

For every model named in ``BERRYMQ["MODEL_EVENTS"]`` (``["shop.Order"]``), a
save sends ``"shop.order:created"`` or ``"shop.order:updated"`` and a delete
``"shop.order:deleted"``, after the transaction commits, with the keyword
arguments ``pk`` (the primary key) and ``model`` (the label, ``"shop.Order"``).

Only what sends Django's ``post_save`` and ``post_delete`` signals counts:
``QuerySet.update()`` and ``bulk_create()`` send nothing, and rows loaded by
``loaddata`` (raw saves) are not events.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model
from django.db.models.signals import post_delete, post_save

from berrymq_django.checks import did_you_mean
from berrymq_django.conf import berrymq_settings
from berrymq_django.transaction import twitter_on_commit

__all__ = ["connect_model_events", "connected_models", "disconnect_model_events", "event_id"]


class _Events:
    """The three identifiers and the label of one model, decided once at connect time."""

    __slots__ = ("created", "deleted", "label", "updated")

    def __init__(self, model: type[Model]) -> None:
        meta = model._meta
        self.label = meta.label
        self.created = event_id(model, "created")
        self.updated = event_id(model, "updated")
        self.deleted = event_id(model, "deleted")


# Models whose signals are connected now, with their events.
_connected: dict[type[Model], _Events] = {}


def event_id(model: type[Model], action: str) -> str:
    """Return the identifier of a model event: ``"<app_label>.<model_name>:<action>"``."""
    return f"{model._meta.app_label}.{model._meta.model_name}:{action}"


def resolve_model(label: str) -> type[Model]:
    """Return the installed model of a MODEL_EVENTS label; ImproperlyConfigured if none."""
    try:
        return apps.get_model(label)
    except (LookupError, ValueError) as exc:
        known = [model._meta.label for model in apps.get_models()]
        match = did_you_mean(label, known)
        hint = f" Did you mean {match!r}?" if match else ' Use "app_label.ModelName".'
        raise ImproperlyConfigured(
            f"BERRYMQ setting 'MODEL_EVENTS' names {label!r}, which is not an installed model."
            + hint
        ) from exc


def connect_model_events(labels: Iterable[str] | None = None) -> list[type[Model]]:
    """Send events for the models of labels (default: MODEL_EVENTS) and no others.

    Every label is resolved before anything is connected, so a bad one leaves the
    previous connections as they were. Returns the connected models.
    """
    if labels is None:
        labels = berrymq_settings.MODEL_EVENTS
    models = [resolve_model(label) for label in labels]
    disconnect_model_events()
    for model in models:
        uid = _dispatch_uid(model)
        post_save.connect(_saved, sender=model, weak=False, dispatch_uid=uid)
        post_delete.connect(_deleted, sender=model, weak=False, dispatch_uid=uid)
        _connected[model] = _Events(model)
    return models


def disconnect_model_events() -> None:
    """Stop sending events for every model."""
    for model in list(_connected):
        uid = _dispatch_uid(model)
        post_save.disconnect(sender=model, dispatch_uid=uid)
        post_delete.disconnect(sender=model, dispatch_uid=uid)
        del _connected[model]


def connected_models() -> list[type[Model]]:
    """Return the models whose saves and deletes send events now."""
    return list(_connected)


def _dispatch_uid(model: type[Model]) -> str:
    return f"berrymq_django.model_events:{model._meta.label}"


def _message_pk(pk: Any) -> Any:
    # A message may cross processes as JSON: a UUID or other key travels as text.
    return pk if isinstance(pk, int | str) else str(pk)


def _saved(
    sender: type[Model], instance: Model, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if raw:
        return  # loaddata replays stored rows; nothing happened to announce
    events = _connected.get(sender)
    if events is None:
        return
    twitter_on_commit(
        events.created if created else events.updated,
        pk=_message_pk(instance.pk),
        model=events.label,
        using=kwargs.get("using"),
    )


def _deleted(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    events = _connected.get(sender)
    if events is None:
        return
    # Read the key now: Django sets instance.pk to None once the delete is done.
    twitter_on_commit(
        events.deleted,
        pk=_message_pk(instance.pk),
        model=events.label,
        using=kwargs.get("using"),
    )
