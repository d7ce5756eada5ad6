from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ExchangeConfig(AppConfig):
    name = "exchange"
    verbose_name = _("节点")

    def ready(self) -> None:
        # axes' receivers first: the audit receiver reads the verdict they put on the request.
        import axes.signals  # noqa: F401
        from django.contrib.auth.signals import user_login_failed

        from exchange.login import audit_login_failure

        user_login_failed.connect(audit_login_failure, dispatch_uid="exchange.audit_login_failure")
