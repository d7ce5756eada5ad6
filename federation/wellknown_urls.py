"""``/.well-known/`` routes of federation, mounted by ``exchange.urls``."""

from django.urls import path

from federation import endpoints

urlpatterns = [
    path("exchange-node", endpoints.well_known, name="well-known-exchange-node"),
]
