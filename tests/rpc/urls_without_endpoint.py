"""A URLconf that does not include berrymq_django.urls: the ASGI middlewares have nothing to do."""

from django.http import HttpRequest, HttpResponse
from django.urls import path


def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse("home")


urlpatterns = [path("", home)]
