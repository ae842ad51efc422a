from django.apps import AppConfig


class ClientSiteAppConfig(AppConfig):
    name = "tests.clients.siteapp"
    label = "clients_siteapp"
