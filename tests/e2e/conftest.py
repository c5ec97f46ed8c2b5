"""The stack deployed from template.yaml into MiniStack, once per test session."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from infra.local.demo import DemoRun, run_scenario
from infra.local.stack import MINISTACK_PYTHON, TOOLS_BIN, LocalStack


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    if not MINISTACK_PYTHON.exists() or not (TOOLS_BIN / "sam").exists():
        pytest.fail("MiniStack or the SAM CLI is not installed: run `make e2e` (or `make test`), which sets them up")
    local = LocalStack(port=_free_port(), stack_name="replywatch-e2e")
    local.start()
    try:
        # The dashboard's read-only keys are off by default; the e2e stack turns them on.
        local.deploy({"DashboardAccess": "api-keys"})
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def demo_run(stack: LocalStack) -> DemoRun:
    return run_scenario(stack)
