"""URLs of the shop."""

from __future__ import annotations

from django.urls import path

from example_project.shop import views

app_name = "shop"

urlpatterns = [
    path("", views.index, name="index"),
    path("orders/", views.place_order, name="place_order"),
    path("orders/<int:pk>/cancel/", views.cancel_order, name="cancel_order"),
    path("products/<int:pk>/restock/", views.restock, name="restock"),
    path("packing/", views.packing, name="packing"),
    path("packing/next/", views.pack_next, name="pack_next"),
    path("activity/", views.ActivityView.as_view(), name="activity"),
]
