"""A small AT Protocol lexicon checker for contract tests.

It checks what a client sends (query parameters: names, types, required, limits, known values;
procedure input bodies) and what a server answers (output objects: required fields, primitive
types, string formats loosely, array and string limits) against the lexicon JSON files, following
``ref`` and ``union`` references both local (``#def``) and to other lexicons (``nsid#def``).
A union member or an ``unknown`` value is checked against the definition its ``$type`` names.

References to lexicons that are not in the folder are not errors: they are collected in
``unresolved`` (the folder holds only what a Bluesky poller needs), so a test can see what went
unchecked. A reference to a definition missing from a lexicon that *is* there is an error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tests.support.template import ROOT

BLUESKY_LEXICONS = ROOT.parent / "shared" / "specs" / "bluesky-lexicons"

_FORMATS = {
    "datetime": re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"),
    "at-uri": re.compile(r"^at://[^/\s?#]+(/[a-zA-Z0-9.-]+(/[^/\s?#]+)?)?$"),
    "did": re.compile(r"^did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]$"),
    "handle": re.compile(r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$"),
    "cid": re.compile(r"^[a-zA-Z0-9+/=]{8,256}$"),
    "uri": re.compile(r"^[a-z][a-z0-9+.-]*:\S+$"),
    "language": re.compile(r"^(i|[a-zA-Z]{2,3})(-[a-zA-Z0-9]+)*$"),
    "nsid": re.compile(r"^[a-zA-Z]([a-zA-Z0-9-]*)(\.[a-zA-Z0-9-]+)+$"),
    "tid": re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$"),
    "record-key": re.compile(r"^[a-zA-Z0-9_~.:-]{1,512}$"),
}


def format_ok(fmt: str, value: str) -> bool:
    if fmt == "at-identifier":
        return format_ok("did", value) or format_ok("handle", value)
    pattern = _FORMATS.get(fmt)
    return pattern is None or bool(pattern.match(value))


class Lexicons:
    def __init__(self, root: Path = BLUESKY_LEXICONS) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        for path in sorted(root.rglob("*.json")):
            document = json.loads(path.read_text())
            if isinstance(document, dict) and document.get("lexicon") == 1:
                self.docs[document["id"]] = document
        self.unresolved: set[str] = set()

    # --- references --------------------------------------------------------------------------

    @staticmethod
    def full_ref(ref: str, context: str) -> str:
        """``#def`` -> ``context#def``; ``nsid#main`` -> ``nsid`` (how ``$type`` names a main def)."""
        full = f"{context}{ref}" if ref.startswith("#") else ref
        return full.removesuffix("#main")

    def definition(self, ref: str, context: str) -> tuple[str, dict[str, Any]] | None:
        nsid, _, name = self.full_ref(ref, context).partition("#")
        document = self.docs.get(nsid)
        if document is None:
            self.unresolved.add(self.full_ref(ref, context))
            return None
        found = document["defs"].get(name or "main")
        if found is None:
            raise KeyError(f"{nsid} has no definition {name or 'main'!r}")
        return nsid, found

    def main(self, nsid: str) -> dict[str, Any]:
        return dict(self.docs[nsid]["defs"]["main"])

    # --- what a client sends ----------------------------------------------------------------

    def check_params(self, nsid: str, params: Iterable[tuple[str, str]]) -> list[str]:
        schema = self.main(nsid).get("parameters") or {"properties": {}}
        properties: Mapping[str, Any] = schema.get("properties", {})
        given: dict[str, list[str]] = {}
        for name, value in params:
            given.setdefault(name, []).append(value)
        errors = [
            f"{nsid}: required parameter {name!r} missing" for name in schema.get("required", []) if name not in given
        ]
        for name, values in given.items():
            spec = properties.get(name)
            if spec is None:
                errors.append(f"{nsid}: unknown parameter {name!r}")
                continue
            if spec["type"] == "array":
                item_spec = spec["items"]
                if "maxLength" in spec and len(values) > spec["maxLength"]:
                    errors.append(f"{nsid}: {name} has more than {spec['maxLength']} values")
            elif len(values) > 1:
                errors.append(f"{nsid}: {name} is not an array but was sent {len(values)} times")
                item_spec = spec
            else:
                item_spec = spec
            for value in values:
                errors.extend(f"{nsid}: {message}" for message in _param_value(name, item_spec, value))
        return errors

    def check_input(self, nsid: str, body: Any) -> list[str]:
        schema = (self.main(nsid).get("input") or {}).get("schema")
        if schema is None:
            return [] if body in (None, b"", "") else [f"{nsid} takes no input"]
        errors: list[str] = []
        self._value(schema, body, "input", nsid, errors)
        return errors

    # --- what a server answers ----------------------------------------------------------------

    def check_output(self, nsid: str, body: Any) -> list[str]:
        errors: list[str] = []
        self._value(self.main(nsid)["output"]["schema"], body, "output", nsid, errors)
        return errors

    def check(self, ref: str, value: Any) -> list[str]:
        """``value`` against any definition, e.g. ``app.bsky.feed.defs#feedViewPost`` or a record type."""
        errors: list[str] = []
        self._value({"type": "ref", "ref": ref}, value, ref, ref.partition("#")[0], errors)
        return errors

    # --- values -----------------------------------------------------------------------------------

    def _value(self, schema: Mapping[str, Any], value: Any, path: str, context: str, errors: list[str]) -> None:
        kind = schema.get("type")
        if kind == "ref":
            found = self.definition(schema["ref"], context)
            if found is not None:
                self._value(found[1], value, path, found[0], errors)
        elif kind == "union":
            self._union(schema, value, path, context, errors)
        elif kind == "record":
            self._value(schema["record"], value, path, context, errors)
        elif kind == "object":
            self._object(schema, value, path, context, errors)
        elif kind == "array":
            if not isinstance(value, list):
                errors.append(f"{path}: expected an array, got {type(value).__name__}")
                return
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                errors.append(f"{path}: more than {schema['maxLength']} items")
            if "minLength" in schema and len(value) < schema["minLength"]:
                errors.append(f"{path}: fewer than {schema['minLength']} items")
            for index, item in enumerate(value):
                self._value(schema["items"], item, f"{path}[{index}]", context, errors)
        elif kind == "unknown":
            if not isinstance(value, dict):
                errors.append(f"{path}: expected an object (unknown), got {type(value).__name__}")
            elif isinstance(value.get("$type"), str):
                found = self.definition(value["$type"], context)  # e.g. a post record in a notification
                if found is not None:
                    self._value(found[1], value, path, found[0], errors)
        elif kind in ("blob", "cid-link", "bytes"):
            if not isinstance(value, dict):
                errors.append(f"{path}: expected a {kind} object")
        elif kind == "token":
            errors.append(f"{path}: a token is not a value")
        else:
            errors.extend(_primitive(path, schema, value))

    def _object(self, schema: Mapping[str, Any], value: Any, path: str, context: str, errors: list[str]) -> None:
        if not isinstance(value, dict):
            errors.append(f"{path}: expected an object, got {type(value).__name__}")
            return
        nullable = set(schema.get("nullable", []))
        for name in schema.get("required", []):
            if name not in value:
                errors.append(f"{path}: required field {name!r} missing")
        for name, spec in schema.get("properties", {}).items():
            if name not in value:
                continue
            if value[name] is None:
                if name not in nullable:
                    errors.append(f"{path}.{name}: null where the lexicon does not allow it")
                continue
            self._value(spec, value[name], f"{path}.{name}", context, errors)

    def _union(self, schema: Mapping[str, Any], value: Any, path: str, context: str, errors: list[str]) -> None:
        if not isinstance(value, dict) or not isinstance(value.get("$type"), str):
            errors.append(f"{path}: a union member needs an object with $type")
            return
        refs = {self.full_ref(ref, context): ref for ref in schema.get("refs", [])}
        named = self.full_ref(value["$type"], context)
        if named not in refs:
            if schema.get("closed"):
                errors.append(f"{path}: $type {named!r} is not one of {sorted(refs)}")
            return
        found = self.definition(refs[named], context)
        if found is not None:
            self._value(found[1], value, path, found[0], errors)


def _primitive(path: str, schema: Mapping[str, Any], value: Any) -> list[str]:
    kind = schema.get("type")
    errors: list[str] = []
    if kind == "string":
        if not isinstance(value, str):
            return [f"{path}: expected a string, got {type(value).__name__}"]
        if "format" in schema and not format_ok(schema["format"], value):
            errors.append(f"{path}: {value[:80]!r} is not a {schema['format']}")
        if "maxLength" in schema and len(value.encode()) > schema["maxLength"]:
            errors.append(f"{path}: longer than {schema['maxLength']} bytes")
        if "minLength" in schema and len(value.encode()) < schema["minLength"]:
            errors.append(f"{path}: shorter than {schema['minLength']} bytes")
    elif kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            return [f"{path}: expected an integer, got {type(value).__name__}"]
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: above {schema['maximum']}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            return [f"{path}: expected a boolean, got {type(value).__name__}"]
    elif kind == "null":
        if value is not None:
            errors.append(f"{path}: expected null")
    else:
        errors.append(f"{path}: the checker does not know type {kind!r}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: must be {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} is not one of {schema['enum']}")
    return errors


def _param_value(name: str, spec: Mapping[str, Any], text: str) -> list[str]:
    """A query parameter arrives as text: read it as its lexicon type, then check it."""
    kind = spec.get("type")
    value: Any = text
    if kind == "integer":
        if not re.fullmatch(r"-?\d+", text):
            return [f"{name}={text!r} is not an integer"]
        value = int(text)
    elif kind == "boolean":
        if text not in ("true", "false"):
            return [f"{name}={text!r} is not true or false"]
        value = text == "true"
    errors = _primitive(name, spec, value)
    # A client should send what the server documents (knownValues are open for answers only).
    if "knownValues" in spec and value not in spec["knownValues"]:
        errors.append(f"{name}: {value!r} is not a known value")
    return errors
