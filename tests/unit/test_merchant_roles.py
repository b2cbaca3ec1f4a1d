"""The merchant portal's one permission rule: every role against every action, as issue 12 lists them."""

from __future__ import annotations

import pytest

from mospay.merchant_roles import ACTIONS, ROLES, allowed

GRANTED = {
    "owner": set(ACTIONS),
    "developer": {"read", "transactions", "api_logs", "keys", "webhooks", "settings", "batches_upload"},
    "finance": {"read", "transactions", "export", "refund", "reports", "batches_upload", "batches_approve",
                "settings"},
    "viewer": {"read", "settings"},
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", ACTIONS)
def test_role_matrix(role, action):
    assert allowed(role, action) is (action in GRANTED[role])


def test_only_owners_manage_the_team_and_unknown_names_are_refused():
    assert [r for r in ROLES if allowed(r, "team")] == ["owner"]
    assert not allowed("owner", "drop_tables") and not allowed("admin", "read") and not allowed("", "read")


def test_batches_viewers_never_upload_and_only_owner_and_finance_approve():
    assert [r for r in ROLES if allowed(r, "batches_upload")] == ["owner", "developer", "finance"]
    assert [r for r in ROLES if allowed(r, "batches_approve")] == ["owner", "finance"]
