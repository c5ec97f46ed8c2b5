"""Shortcuts through moto's slowness for the benchmarks, each changing nothing stored."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def transactions_without_backup() -> Iterator[list[str]]:
    """Skip moto's per-transaction deep copy of every table it touches (kept only to roll back a
    failed transaction). Yields the failed transactions, which must stay none."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    failures: list[str] = []
    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        try:
            original(self, transact_items)
        except Exception as error:
            failures.append(type(error).__name__)
            raise

    assert "__deepcopy__" not in vars(Table), "moto's Table copies itself: look at this shortcut again"
    Table.__deepcopy__ = lambda self, memo: self  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    try:
        yield failures
    finally:
        del Table.__deepcopy__  # type: ignore[attr-defined]
        DynamoDBBackend.transact_write_items = original  # type: ignore[method-assign]
