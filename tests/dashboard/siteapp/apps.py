from django.apps import AppConfig


class DashboardSiteConfig(AppConfig):
    name = "tests.dashboard.siteapp"
    label = "dashboard_siteapp"
