"""`make openapi`: write the API's OpenAPI document, generated from the code, to docs/openapi.json.

The document is what `GET /openapi.json` serves (`replywatch.api.openapi_document`),
from `create_app()` over stand-in readers that are never called: building the app
reads nothing. tests/unit/test_openapi_document.py fails when the committed file
and the code disagree.

    python -m infra.openapi           write docs/openapi.json
    python -m infra.openapi --check   exit 1 when docs/openapi.json is out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from replywatch.api import create_app, openapi_document

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "docs" / "openapi.json"


class _Unused:
    """Stands in for the app's readers: generating the document must not read anything."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"generating the OpenAPI document called {name}()")


def generated() -> dict[str, Any]:
    """The document as the API serves it. The dashboard routes are in it whether or not the stack takes keys."""
    app = create_app(_Unused(), _Unused(), clock=lambda: datetime.now(UTC))
    document: dict[str, Any] = json.loads(openapi_document(app))
    return document


def render(document: dict[str, Any]) -> str:
    """The committed form: sorted keys, 2-space indent, a trailing newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def differences(committed: Any, current: Any, where: str = "$") -> Iterator[str]:
    """JSON paths where two documents differ, in document order."""
    if isinstance(committed, dict) and isinstance(current, dict):
        for key in sorted(committed.keys() | current.keys()):
            path = f"{where}.{key}" if "/" not in key and "~" not in key else f"{where}[{key!r}]"
            if key not in current:
                yield f"{path}: only in the committed document"
            elif key not in committed:
                yield f"{path}: only in the code"
            else:
                yield from differences(committed[key], current[key], path)
    elif isinstance(committed, list) and isinstance(current, list) and len(committed) == len(current):
        for index, (old, new) in enumerate(zip(committed, current, strict=True)):
            yield from differences(old, new, f"{where}[{index}]")
    elif committed != current:
        yield f"{where}: {json.dumps(committed)[:80]} -> {json.dumps(current)[:80]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when the file is out of date")
    args = parser.parse_args(argv)
    text = render(generated())
    current = DOCUMENT.read_text(encoding="utf-8") if DOCUMENT.exists() else None
    if args.check:
        if current == text:
            return 0
        print(f"{DOCUMENT.relative_to(ROOT)} is out of date: run `make openapi`", file=sys.stderr)
        return 1
    if current != text:
        DOCUMENT.write_text(text, encoding="utf-8")
        print(f"wrote {DOCUMENT.relative_to(ROOT)}")
    else:
        print(f"{DOCUMENT.relative_to(ROOT)} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
