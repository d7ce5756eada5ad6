"""Mounted by the composition root as ``path("oai", include("federation.oai.urls"))`` → ``/oai``."""

from django.urls import path

from federation.oai.views import oai_endpoint

urlpatterns = [path("", oai_endpoint, name="oai")]
