"""Merchant-portal roles: who a signed-in merchant user is (MerchantUser) and the one permission rule,
`allowed(role, action)`. No HTTP here: the portal guard and every page ask this module."""

from __future__ import annotations

import dataclasses

ROLES = ("owner", "developer", "finance", "viewer")
ACTIONS = ("read", "transactions", "export", "refund", "api_logs", "keys", "webhooks", "team", "settings",
           "batches_upload", "batches_approve", "reports")
_GRANTS = {
    "owner": frozenset(ACTIONS),
    "developer": frozenset({"read", "transactions", "api_logs", "keys", "webhooks", "settings", "batches_upload"}),
    "finance": frozenset({"read", "transactions", "export", "refund", "reports", "batches_upload", "batches_approve",
                         "settings"}),
    "viewer": frozenset({"read", "settings"}),
}


@dataclasses.dataclass(frozen=True)
class MerchantUser:
    """The signed-in merchant user, as the guard puts it in `req.context.merchant`. Every query a page
    runs for it is scoped with `client_id` in the SQL itself."""
    user_id: int
    client_id: int
    app_id: str
    email: str
    role: str


def allowed(role: str, action: str) -> bool:
    """Whether `role` may do `action` (one of ACTIONS). An unknown role or action is never allowed."""
    if action not in ACTIONS:
        return False
    return action in _GRANTS.get(role, frozenset())
