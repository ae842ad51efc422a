"""Bridge model saves and deletes to berryMQ messages (the MODEL_EVENTS setting).

For every model named in ``BERRYMQ["MODEL_EVENTS"]`` (``["shop.Order"]``), a
save sends ``"shop.order:created"`` or ``"shop.order:updated"`` and a delete
``"shop.order:deleted"``, after the transaction commits, with the keyword
arguments ``pk`` (the primary key) and ``model`` (the label, ``"shop.Order"``).

A write to a row of a listed model announces itself once, whichever class
made it (Python's ``issubclass`` decides what is a listed model):

* a proxy of a listed model saves and deletes its rows: the listed model's
  events;
* a multi-table child (``class GiftOrder(Order)``) has a parent row in the
  listed model's table: its create and save send the listed model's
  ``created``/``updated``; its delete removes the parent row, whose own
  ``post_delete`` sends ``deleted`` (``delete(keep_parents=True)`` keeps that
  row: no event);
* a listed proxy announces the writes made through it (and its subclasses),
  as Django's signals for that sender do.

Only what sends Django's ``post_save`` and ``post_delete`` signals counts:
``QuerySet.update()``, ``bulk_create()``, ``bulk_update()`` and raw SQL send
nothing; ``QuerySet.delete()`` sends one event per row (listening stops
Django from deleting those rows without signals); rows loaded by
``loaddata`` (raw saves) are not events.

The senders are worked out once, when the events are connected: each model
class maps to the events its saves and its deletes send, and a signal is
connected only for the senders that have some.
"""

from __future__ import annotations

import logging
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

logger = logging.getLogger("berrymq.model_events")


class _Events:
    """The three identifiers and the label of one listed model, decided once."""

    __slots__ = ("created", "deleted", "label", "pk_attname", "updated")

    def __init__(self, model: type[Model]) -> None:
        meta = model._meta
        self.label = meta.label
        self.created = event_id(model, "created")
        self.updated = event_id(model, "updated")
        self.deleted = event_id(model, "deleted")
        # A child's instance carries its parents' fields: read the listed model's own key.
        self.pk_attname = meta.pk.attname if meta.pk is not None else "pk"


# The listed models, in MODEL_EVENTS order, with their events.
_listed: dict[type[Model], _Events] = {}
# Per sender class: the events its post_save and its post_delete send.
_on_save: dict[type[Model], tuple[_Events, ...]] = {}
_on_delete: dict[type[Model], tuple[_Events, ...]] = {}


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


def connect_model_events(
    labels: Iterable[str] | None = None, *, skip_unknown: bool = False
) -> list[type[Model]]:
    """Send events for the models of labels (default: MODEL_EVENTS) and no others.

    Every label is resolved before anything is connected, so a bad one leaves the
    previous connections as they were (ImproperlyConfigured); with ``skip_unknown``
    a bad label is logged and the others are connected. Returns the listed models.
    """
    if labels is None:
        labels = berrymq_settings.MODEL_EVENTS
    models: list[type[Model]] = []
    for label in labels:
        try:
            model = resolve_model(label)
        except ImproperlyConfigured as exc:
            if not skip_unknown:
                raise
            logger.error(
                "%s Its events are not sent until it is fixed (manage.py check lists every "
                "problem).",
                exc,
            )
            continue
        if model not in models:
            models.append(model)
    disconnect_model_events()
    for model in models:
        _listed[model] = _Events(model)
    for sender in apps.get_models():
        _connect(sender)
    return models


def _connect(sender: type[Model]) -> None:
    # A sender's post_delete covers the rows of its own table only: a multi-table
    # child's parent rows are collected and deleted with their own post_delete.
    concrete = sender._meta.concrete_model
    saves = tuple(events for model, events in _listed.items() if issubclass(sender, model))
    deletes = tuple(
        events
        for model, events in _listed.items()
        if issubclass(sender, model) and model._meta.concrete_model is concrete
    )
    uid = _dispatch_uid(sender)
    if saves:
        _on_save[sender] = saves
        post_save.connect(_saved, sender=sender, weak=False, dispatch_uid=uid)
    if deletes:
        _on_delete[sender] = deletes
        post_delete.connect(_deleted, sender=sender, weak=False, dispatch_uid=uid)


def disconnect_model_events() -> None:
    """Stop sending events for every model."""
    for sender in list(_on_save):
        post_save.disconnect(sender=sender, dispatch_uid=_dispatch_uid(sender))
    for sender in list(_on_delete):
        post_delete.disconnect(sender=sender, dispatch_uid=_dispatch_uid(sender))
    _on_save.clear()
    _on_delete.clear()
    _listed.clear()


def connected_models() -> list[type[Model]]:
    """Return the listed models whose rows' saves and deletes send events now."""
    return list(_listed)


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
    for events in _on_save.get(sender, ()):
        twitter_on_commit(
            events.created if created else events.updated,
            pk=_message_pk(getattr(instance, events.pk_attname)),
            model=events.label,
            using=kwargs.get("using"),
        )


def _deleted(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    # Read the key now: Django sets it to None once the delete is done.
    for events in _on_delete.get(sender, ()):
        twitter_on_commit(
            events.deleted,
            pk=_message_pk(getattr(instance, events.pk_attname)),
            model=events.label,
            using=kwargs.get("using"),
        )
