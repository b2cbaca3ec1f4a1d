"""Fixtures: one PostgreSQL for the session, a template database with the schema, a fresh copy per test."""

from __future__ import annotations

import pytest

from mospay import migrate
from mospay.db import Database
from tests.support import PostgresForTests


@pytest.fixture(scope="session")
def postgres():
    pg = PostgresForTests()
    yield pg
    pg.close()


@pytest.fixture(scope="session")
def template_db(postgres):
    name = postgres.create_database()
    db = Database(postgres.url_for(name), size=2)
    migrate.apply(db)  # a fresh install: schema/ in one transaction
    db.close()
    yield name
    postgres.drop_database(name)


@pytest.fixture
def db_url(postgres, template_db):
    name = postgres.create_database(template=template_db)
    yield postgres.url_for(name)
    postgres.drop_database(name)


@pytest.fixture
def db(db_url):
    database = Database(db_url, size=4)
    yield database
    database.close()
