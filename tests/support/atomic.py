"""A boto3 client wrapper that applies requests one at a time, as DynamoDB does."""

from __future__ import annotations

import functools
import threading
from typing import Any


class AtomicRequests:
    """A boto3 client whose requests are applied one at a time, each as a whole.

    DynamoDB applies every request atomically: a conditional write or a
    transaction either sees the state before a concurrent one or after it.
    moto does not when called from several threads (it checks a transaction's
    conditions, deep-copies tables and writes without a lock), so two threads
    can both pass the same condition. Serialising whole requests restores the
    guarantee the product relies on while the callers still race between
    requests (read, alert, flag), which is what these tests are about.
    """

    _lock = threading.Lock()

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        @functools.wraps(attribute)
        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return call
