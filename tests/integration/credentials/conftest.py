"""Fixtures of the provider-credential and service-URL tests: an in-process stack per test on its own
database, and one provider simulator per module."""

from __future__ import annotations

import pytest

from mospay.simulator import Simulator
from tests.integration.credentials.support import Stack


@pytest.fixture(scope="module")
def provider_sim():
    with Simulator(hang_seconds=2, callback_delay=60) as simulator:
        yield simulator


@pytest.fixture
def make_stack(db_url, provider_sim):
    made = []

    def make(**settings) -> Stack:
        made.append(Stack(db_url, provider_sim.url, **settings))
        return made[-1]
    yield make
    for stack in made:
        stack.close()


@pytest.fixture
def stack(make_stack):
    return make_stack()


@pytest.fixture
def pgcrypto_stack(stack):
    """A stack whose database has pgcrypto, which values saved before migration 018 need (the embedded
    pgserver build has none)."""
    if not stack.db.run("SELECT count(*) AS n FROM pg_extension WHERE extname = 'pgcrypto'")[0]["n"]:
        pytest.skip("this PostgreSQL has no pgcrypto extension (the embedded pgserver build)")
    return stack
