from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = _("资源目录")

    def ready(self) -> None:
        from django.core.checks import register

        from catalog.previews.checks import check_preview_tools

        register(check_preview_tools)
