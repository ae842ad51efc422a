"""Link the berryMQ dashboard from the admin index (the admin imports this module).

The default admin site's index gets a "berryMQ" box pointing at the
dashboard, through ``AdminSite.index_template``, and only when the project
has not set its own index template: nothing of the admin's is overridden.
Importing the dashboard here, at Django's setup, also stamps the time its
overview counts the site's uptime from.
"""

from __future__ import annotations

from django.contrib import admin

from . import dashboard

INDEX_TEMPLATE = "berrymq/dashboard/admin_index.html"

if admin.site.index_template is None:
    admin.site.index_template = INDEX_TEMPLATE

__all__ = ["INDEX_TEMPLATE", "dashboard"]
