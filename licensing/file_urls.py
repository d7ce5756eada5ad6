"""Routes of the node-signed download links, mounted at ``/files/`` by ``exchange.urls``."""

from django.urls import path

from licensing import views

urlpatterns = [
    path("<str:token>", views.signed_file_download, name="licensing-file"),
]
