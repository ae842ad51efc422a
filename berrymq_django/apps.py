"""Django glue: configure the dispatcher, register checks, import receivers, send model events."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from django.apps import AppConfig, apps
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import module_has_submodule

from berrymq_django.checks import register_checks
from berrymq_django.conf import berrymq_settings, group_policy
from berrymq_django.core.api import default_dispatcher
from berrymq_django.core.dispatcher import Dispatcher
from berrymq_django.core.exceptions import ImproperlyConfiguredBackend
from berrymq_django.core.lifecycle import lifecycle
from berrymq_django.model_events import connect_model_events
from berrymq_django.peering import configure_peers, peers

if TYPE_CHECKING:
    from berrymq_django.backends.base import SiteBackend

logger = logging.getLogger("berrymq.conf")


def configure_dispatcher(dispatcher: Dispatcher | None = None) -> None:
    """Apply BERRYMQ (node name, backend, errors, multiplicity, groups) to ``dispatcher``.

    Takes the dispatcher to configure, ``default_dispatcher`` when None. The backend
    is rebuilt only when BACKEND or BACKEND_OPTIONS changed; the dispatcher closes the
    one it replaces.
    """
    if dispatcher is None:
        dispatcher = default_dispatcher
    backend_class = berrymq_settings.BACKEND
    options = dict(berrymq_settings.BACKEND_OPTIONS)

    # Rebuild the backend only when its class or options changed, so an unrelated
    # change (RAISE_ERRORS, say) keeps its connections and shared queue stores.
    current = cast("SiteBackend", dispatcher.backend)
    backend = None
    if type(current) is not backend_class or current.options != options:
        try:
            backend = backend_class(**options)
        except ImproperlyConfiguredBackend as exc:
            raise ImproperlyConfigured(f"BERRYMQ setting 'BACKEND_OPTIONS': {exc}") from exc
        except TypeError as exc:
            # The options themselves are not shown: they may hold a password.
            raise ImproperlyConfigured(
                f"BERRYMQ setting 'BACKEND_OPTIONS' does not suit "
                f"{backend_class.__qualname__}: {exc}"
            ) from exc

    dispatcher.configure(
        node_name=berrymq_settings.NODE_NAME,
        backend=backend,
        raise_errors=bool(berrymq_settings.RAISE_ERRORS),
        follower_timing=bool(berrymq_settings.FOLLOWER_TIMING),
    )
    if not berrymq_settings.NODE_NAME:
        dispatcher.use_default_node_name()  # "<host>-<pid>", anew in each forked worker
    configure_groups = getattr(dispatcher.backend, "configure_groups", None)
    if configure_groups is not None:  # a backend that spreads follower groups over processes
        configure_groups(group_policy())
    if dispatcher.multiplicity != berrymq_settings.MULTIPLICITY:
        dispatcher.set_multiplicity(berrymq_settings.MULTIPLICITY)


def autodiscover(
    module_names: Iterable[str] | None = None,
    app_configs: Iterable[AppConfig] | None = None,
) -> None:
    """Import each of ``module_names`` (default: AUTODISCOVER) from every app that has it.

    Like ``django.utils.module_loading.autodiscover_modules``: an app without the module
    is skipped, an error raised while importing one that exists propagates, with a note
    naming the module. ``app_configs`` defaults to every installed app.
    """
    if module_names is None:
        module_names = berrymq_settings.AUTODISCOVER
    if app_configs is None:
        app_configs = apps.get_app_configs()
    names = list(module_names)
    for app_config in app_configs:
        for name in names:
            dotted = f"{app_config.name}.{name}"
            try:
                import_module(dotted)
            except Exception as exc:
                if not module_has_submodule(app_config.module, name):
                    continue
                exc.add_note(f"berryMQ: raised while importing receivers module {dotted!r}")
                raise


def _reconfigure_on_change(*, setting: str, **kwargs: Any) -> None:
    if setting == "BERRYMQ":
        # conf's own receiver resets the cache too; doing it here makes the order irrelevant.
        berrymq_settings.reload()
        configure_dispatcher()
        configure_peers()
        connect_model_events()
        configure_outbox()


def management_command(argv: Sequence[str]) -> str | None:
    """Return the name of the management command argv runs (manage.py, django-admin), if any."""
    if not argv:
        return None
    program = Path(argv[0])
    if program.name in ("manage.py", "django-admin", "django-admin.py") or (
        program.name == "__main__.py" and program.parent.name == "django"
    ):
        return argv[1] if len(argv) > 1 else "help"
    return None


def serves_site(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> bool:
    """Return whether this process serves the site, so its background work starts with it.

    True under a WSGI or ASGI server (gunicorn, uWSGI, Daphne...), in a
    script that calls ``django.setup()``, and in the process of ``runserver``
    that serves (the autoreloader's child, or ``--noreload``); False for any
    other management command (``migrate``, ``check``, ``shell``...), which
    starts nothing: what it twitters to peers is sent when it exits. A
    long-running command of your own starts the links with
    ``berrymq_django.core.lifecycle.lifecycle.start()``.
    """
    argv = sys.argv if argv is None else argv
    environ = os.environ if environ is None else environ
    command = management_command(argv)
    if command is None:
        return True
    if command == "runserver":
        return "--noreload" in argv or environ.get("RUN_MAIN") == "true"
    return False


def _configure_at_start_up() -> None:
    # A backend that cannot be built from BACKEND_OPTIONS leaves the default one.
    try:
        configure_dispatcher()
    except ImproperlyConfigured as exc:
        # The backend's own message: it names the option without echoing secrets.
        logger.error(
            "BERRYMQ setting 'BACKEND_OPTIONS' does not suit BACKEND: %s Using the default "
            "backend until it is fixed (manage.py check lists every problem).",
            exc.__cause__ or exc,
        )
        berrymq_settings.use_defaults("BACKEND", "BACKEND_OPTIONS")
        configure_dispatcher()


def _configure_peers_at_start_up() -> None:
    try:
        configure_peers()
    except ImproperlyConfigured as exc:
        logger.error(
            "%s No peer is connected until it is fixed (manage.py check lists every problem).",
            exc,
        )


def configure_outbox() -> None:
    """Apply BERRYMQ["OUTBOX"] (imported here: the outbox loads the model, once apps are ready)."""
    from berrymq_django.outbox.setup import configure_outbox

    configure_outbox()


def _configure_outbox_at_start_up() -> None:
    try:
        configure_outbox()
    except ImproperlyConfigured as exc:
        logger.error(
            "%s The outbox stays off until it is fixed (manage.py check lists every problem).",
            exc,
        )


class BerryMQConfig(AppConfig):
    """Configure ``default_dispatcher`` from settings and import every app's receivers."""

    name = "berrymq_django"
    verbose_name = "berryMQ"

    def ready(self) -> None:
        """Register checks, configure the dispatcher and peers, autodiscover, connect events.

        A mistake in BERRYMQ never stops start-up: it is logged, what it concerns
        keeps its default or stays off, and ``manage.py check`` reports it. In a
        process that serves the site (see serves_site), start its background work.
        """
        register_checks()
        with berrymq_settings.lenient():
            _configure_at_start_up()
            setting_changed.connect(
                _reconfigure_on_change, dispatch_uid="berrymq_django.apps.reconfigure"
            )
            autodiscover()
            _configure_peers_at_start_up()
            peers()  # the registry joins the lifecycle even with no PEERS: interconnects add links
            connect_model_events(skip_unknown=True)
            _configure_outbox_at_start_up()
        # Background work (peer links, call-back sync) starts with the site, never
        # during migrate or another management command (see serves_site).
        if serves_site():
            lifecycle.start()
