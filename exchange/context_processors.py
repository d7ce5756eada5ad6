from django.conf import settings

from exchange.roles import user_roles


def node(request):
    return {
        "node_id": settings.EXCHANGE_NODE_ID,
        "node_role": settings.EXCHANGE_NODE_ROLE,
        "node_name": settings.EXCHANGE_NODE_NAME or settings.EXCHANGE_NODE_ID,
        "user_roles": user_roles(request.user) if hasattr(request, "user") else [],
    }
