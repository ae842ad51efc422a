from django.apps import AppConfig


class SiteAppConfig(AppConfig):
    name = "tests.backends.siteapp"
    label = "backends_siteapp"
