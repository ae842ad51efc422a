"""An installed app whose receivers module proves autodiscovery ran."""

from __future__ import annotations

# Dotted names of this app's modules imported by autodiscovery, in import order.
imported_modules: list[str] = []
