from django.apps import AppConfig


class ClientsSiteAppConfig(AppConfig):
    name = "tests.clients.siteapp"
    label = "clients_siteapp"
