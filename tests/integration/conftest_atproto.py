"""The ``atproto`` fixture: a private Bluesky network (see tests/support/atproto.py).

Not loaded by pytest on its own (only files named conftest.py are): a test module imports the
fixture, or tests/integration/conftest.py does so for every module there.

Where infra/local/atproto/setup.sh has not been run (node_modules, PostgreSQL or Redis missing)
the tests that use it are skipped, except in CI (CI set), which runs setup.sh first: there a
missing piece is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.atproto import SETUP, AtprotoNetwork, atproto_network, missing_requirements
from tests.support.template import ROOT


@pytest.fixture(scope="module")
def atproto() -> Iterator[AtprotoNetwork]:
    """A fresh network per test module, with accounts ``brand`` (brand.test) and ``alice`` (alice.test)."""
    reason = missing_requirements()
    if reason is not None:
        setup = SETUP.relative_to(ROOT)
        if os.environ.get("CI"):
            pytest.fail(f"Bluesky test network: {reason} (CI must run {setup} first)", pytrace=False)
        pytest.skip(f"Bluesky test network: {reason}; run `bash {setup}` (as root) to set it up")
    with atproto_network() as network:
        yield network
