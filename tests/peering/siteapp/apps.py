from django.apps import AppConfig


class SiteAppConfig(AppConfig):
    name = "tests.peering.siteapp"
    label = "peering_siteapp"
