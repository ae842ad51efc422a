"""URLs of the demo app."""

from __future__ import annotations

from django.urls import path

from example_project.demo import views

app_name = "demo"

urlpatterns = [
    path("", views.home, name="home"),
    path("click/", views.click, name="click"),
    path("drain/", views.drain, name="drain"),
]
