"""The dashboard's URLs, included by berrymq_django.urls under "dashboard/" (namespace
"berrymq:dashboard")."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "dashboard"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("followers/", views.followers, name="followers"),
    path("queues/", views.queues, name="queues"),
    path("queues/close/", views.close_connection, name="close-connection"),
    path("peers/", views.peers_page, name="peers"),
    path("dead/", views.dead, name="dead"),
    path("dead/retry/", views.dead_retry, name="dead-retry"),
    path("dead/purge/", views.dead_purge, name="dead-purge"),
    path("dead/outbox/retry/", views.outbox_retry, name="outbox-retry"),
    path("dead/outbox/purge/", views.outbox_purge, name="outbox-purge"),
    path("network/", views.network, name="network"),
    path("tail/", views.tail, name="tail"),
]
