"""Just enough OpenAPI 3.0 checking for contract tests against a platform's published document.

``jsonschema`` is not among the project's dependencies; this validator knows the keywords the
platform documents use for the calls we make, and refuses (raises) on any other keyword rather
than ignore a constraint it does not understand.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any

from tests.support.template import ROOT

SHARED_SPECS = ROOT.parent / "shared" / "specs"

_IGNORED = frozenset({"description", "example", "title", "deprecated", "readOnly", "writeOnly", "default", "nullable"})
_CHECKED = frozenset(
    {"$ref", "type", "properties", "required", "items", "enum", "format", "pattern", "discriminator", "oneOf"}
    | {"anyOf", "allOf", "minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "uniqueItems"}
    | {"additionalProperties"}
)


class UnsupportedKeyword(Exception):
    """The document uses a keyword this validator does not check: extend it rather than skip."""


@cache
def load(relative: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((SHARED_SPECS / relative).read_text())
    return document


class Spec:
    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document

    def resolve(self, node: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise UnsupportedKeyword(f"external $ref {ref}")
            target: Any = self.document
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def schema(self, name: str) -> Mapping[str, Any]:
        return self.resolve(self.document["components"]["schemas"][name])

    # --- responses ----------------------------------------------------------------------------

    def response_schema(self, path: str, status: str = "200", method: str = "get") -> Mapping[str, Any]:
        response = self.resolve(self.document["paths"][path][method]["responses"][status])
        return self.resolve(response["content"]["application/json"]["schema"])

    def errors(self, instance: Any, schema: Mapping[str, Any], where: str = "$") -> list[str]:
        """Every way ``instance`` breaks ``schema`` (empty: it conforms)."""
        schema = self.resolve(schema)
        unknown = set(schema) - _CHECKED - _IGNORED
        if unknown:
            raise UnsupportedKeyword(f"{where}: {sorted(unknown)}")
        if instance is None and schema.get("nullable"):
            return []
        problems: list[str] = []
        kind = schema.get("type")
        if kind is not None and not _is_type(instance, kind):
            return [f"{where}: {instance!r:.60} is not of type {kind}"]
        if "enum" in schema and instance not in schema["enum"]:
            problems.append(f"{where}: {instance!r:.60} is not one of {schema['enum']}")
        if isinstance(instance, str):
            problems += _string_errors(instance, schema, where)
        if isinstance(instance, (int, float)) and not isinstance(instance, bool):
            if "minimum" in schema and instance < schema["minimum"]:
                problems.append(f"{where}: {instance} < {schema['minimum']}")
            if "maximum" in schema and instance > schema["maximum"]:
                problems.append(f"{where}: {instance} > {schema['maximum']}")
        if isinstance(instance, list):
            problems += self._array_errors(instance, schema, where)
        if isinstance(instance, dict):
            problems += self._object_errors(instance, schema, where)
        for part in schema.get("allOf", []):
            problems += self.errors(instance, part, where)
        if "anyOf" in schema and not any(not self.errors(instance, part, where) for part in schema["anyOf"]):
            problems.append(f"{where}: matches none of anyOf")
        if "oneOf" in schema:
            problems += self._one_of(instance, schema, where)
        return problems

    def _array_errors(self, instance: list[Any], schema: Mapping[str, Any], where: str) -> list[str]:
        problems = []
        if "minItems" in schema and len(instance) < schema["minItems"]:
            problems.append(f"{where}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(instance) > schema["maxItems"]:
            problems.append(f"{where}: more than {schema['maxItems']} items")
        if schema.get("uniqueItems") and len({json.dumps(item, sort_keys=True) for item in instance}) < len(instance):
            problems.append(f"{where}: items are not unique")
        if "items" in schema:
            for index, item in enumerate(instance):
                problems += self.errors(item, schema["items"], f"{where}[{index}]")
        return problems

    def _object_errors(self, instance: dict[str, Any], schema: Mapping[str, Any], where: str) -> list[str]:
        problems = [f"{where}: lacks required {name!r}" for name in schema.get("required", []) if name not in instance]
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for name, value in instance.items():
            if name in properties:
                problems += self.errors(value, properties[name], f"{where}.{name}")
            elif extra is False:
                problems.append(f"{where}: unexpected property {name!r}")
            elif isinstance(extra, Mapping):
                problems += self.errors(value, extra, f"{where}.{name}")
        return problems

    def _one_of(self, instance: Any, schema: Mapping[str, Any], where: str) -> list[str]:
        discriminator = schema.get("discriminator")
        if discriminator and isinstance(instance, dict) and "mapping" in discriminator:
            chosen = discriminator["mapping"].get(instance.get(discriminator["propertyName"]))
            if chosen is None:
                value = instance.get(discriminator["propertyName"])
                return [f"{where}: {discriminator['propertyName']} {value!r} names none of oneOf"]
            return self.errors(instance, {"$ref": chosen}, where)
        matching = sum(1 for part in schema["oneOf"] if not self.errors(instance, part, where))
        return [] if matching == 1 else [f"{where}: matches {matching} of oneOf, not exactly one"]

    # --- requests -----------------------------------------------------------------------------

    def operation(self, path: str, method: str = "get") -> Mapping[str, Any]:
        return self.resolve(self.document["paths"][path][method])

    def parameters(self, path: str, method: str = "get") -> dict[tuple[str, str], Mapping[str, Any]]:
        """(location, name) -> the parameter, for an operation."""
        found = {}
        for raw in self.operation(path, method).get("parameters", []):
            parameter = self.resolve(raw)
            found[(parameter["in"], parameter["name"])] = parameter
        return found

    def request_errors(
        self,
        template: str,
        actual_path: str,
        query: list[tuple[str, str]],
        *,
        method: str = "get",
        renamed: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> list[str]:
        """How a request breaks the operation's documented parameters. ``renamed``: query
        parameters the live API names differently from this document, with the parameter
        definition to check them against instead."""
        pattern = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$"
        matched = re.match(pattern, actual_path)
        if matched is None:
            return [f"path {actual_path} does not match {template}"]
        parameters = self.parameters(template, method)
        problems = []
        for name, value in matched.groupdict().items():
            problems += self._parameter_errors(parameters[("path", name)], value)
        seen = set()
        for name, value in query:
            if name in seen:
                problems.append(f"query parameter {name} given twice")
            seen.add(name)
            parameter = (renamed or {}).get(name) or parameters.get(("query", name))
            if parameter is None:
                problems.append(f"query parameter {name} is not documented for {template}")
                continue
            problems += self._parameter_errors(parameter, value)
        for (where, name), parameter in parameters.items():
            if where == "query" and parameter.get("required") and name not in seen:
                problems.append(f"required query parameter {name} missing")
        return problems

    def _parameter_errors(self, parameter: Mapping[str, Any], raw: str) -> list[str]:
        schema = self.resolve(parameter["schema"])
        name = parameter["name"]
        value: Any = raw
        if schema.get("type") == "array":
            if parameter.get("explode", parameter.get("style", "form") == "form"):
                raise UnsupportedKeyword(f"{name}: exploded array parameters")
            value = raw.split(",")
        elif schema.get("type") == "integer":
            if not re.fullmatch(r"-?\d+", raw):
                return [f"{name}={raw!r} is not an integer"]
            value = int(raw)
        return self.errors(value, schema, name)


def _is_type(instance: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(instance, int) and not isinstance(instance, bool)
    if kind == "number":
        return isinstance(instance, (int, float)) and not isinstance(instance, bool)
    return isinstance(
        instance,
        {"string": str, "boolean": bool, "array": list, "object": dict}[kind],
    )


def _string_errors(instance: str, schema: Mapping[str, Any], where: str) -> list[str]:
    problems = []
    if "pattern" in schema and not re.search(schema["pattern"], instance):
        problems.append(f"{where}: {instance!r:.60} does not match {schema['pattern']}")
    if "minLength" in schema and len(instance) < schema["minLength"]:
        problems.append(f"{where}: shorter than {schema['minLength']}")
    if "maxLength" in schema and len(instance) > schema["maxLength"]:
        problems.append(f"{where}: longer than {schema['maxLength']}")
    if schema.get("format") == "date-time":
        try:
            moment = datetime.fromisoformat(instance.replace("Z", "+00:00"))
        except ValueError:
            problems.append(f"{where}: {instance!r} is not an RFC 3339 date-time")
        else:
            if moment.tzinfo is None or "T" not in instance:
                problems.append(f"{where}: {instance!r} is not an RFC 3339 date-time")
    return problems


def spec_or_skip(relative: str) -> Spec:
    """The shared document, or skip the test: ../shared is not on every machine."""
    import pytest

    if not (SHARED_SPECS / relative).is_file():
        pytest.skip(f"{SHARED_SPECS / relative} is absent (the ../shared folder is optional)")
    return Spec(load(relative))


__all__ = ["Spec", "UnsupportedKeyword", "load", "spec_or_skip"]
