"""The API reference as one HTML page, rendered from the OpenAPI document (no scripts, no CDN)."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import Any

_METHODS = ("get", "post", "put", "patch", "delete")
_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:0 auto;padding:1rem;color:#1a1a1a}
h1{font-size:1.6rem}h2{font-size:1.15rem;margin-top:2rem;border-top:1px solid #ddd;padding-top:1rem}
code,pre{font:13px/1.4 ui-monospace,monospace;background:#f4f4f4;border-radius:4px}
code{padding:0 .25rem}pre{padding:.6rem;overflow-x:auto}
.method{display:inline-block;min-width:3.5rem;font-weight:600;text-transform:uppercase}
table{border-collapse:collapse;width:100%;margin:.5rem 0}td,th{text-align:left;padding:.25rem .5rem;
border-bottom:1px solid #eee;vertical-align:top}
details{margin:.25rem 0}
@media (prefers-color-scheme:dark){body{background:#111;color:#eee}code,pre{background:#222}
td,th{border-color:#333}}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _type(schema: Mapping[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    for combinator in ("anyOf", "oneOf", "allOf"):
        if combinator in schema:
            return " | ".join(_type(part) for part in schema[combinator])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if "enum" in schema:
        return " | ".join(json.dumps(value) for value in schema["enum"])
    if "format" in schema:
        return f"{kind} ({schema['format']})"
    return str(kind)


def _json_schema(answer: Mapping[str, Any]) -> Mapping[str, Any]:
    schema: Mapping[str, Any] = answer.get("content", {}).get("application/json", {}).get("schema", {})
    return schema


def _operation(path: str, method: str, operation: Mapping[str, Any]) -> str:
    anchor = f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", "")
    parts = [
        f"<h2 id='{_e(anchor)}'><span class='method'>{_e(method)}</span> <code>{_e(path)}</code></h2>",
        f"<p>{_e(operation.get('summary', ''))}</p>",
    ]
    if operation.get("description"):
        parts.append(f"<p>{_e(operation['description'])}</p>")
    security = operation.get("security")
    if security:
        parts.append("<p>Auth: " + ", ".join(_e(name) for entry in security for name in entry) + "</p>")
    parameters = operation.get("parameters", [])
    if parameters:
        rows = "".join(
            f"<tr><td><code>{_e(p['name'])}</code></td><td>{_e(p['in'])}</td>"
            f"<td>{_e(_type(p.get('schema', {})))}</td><td>{'yes' if p.get('required') else ''}</td>"
            f"<td>{_e(p.get('description', ''))}</td></tr>"
            for p in parameters
        )
        parts.append(
            "<table><tr><th>parameter</th><th>in</th><th>type</th><th>required</th><th></th></tr>" + rows + "</table>"
        )
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if body:
        parts.append(f"<p>Body: <code>{_e(_type(body))}</code></p>")
    responses = operation.get("responses", {})
    rows = "".join(
        f"<tr><td>{_e(code)}</td><td>{_e(answer.get('description', ''))}</td>"
        f"<td><code>{_e(_type(_json_schema(answer)))}</code></td></tr>"
        for code, answer in sorted(responses.items())
    )
    parts.append("<table><tr><th>status</th><th>meaning</th><th>body</th></tr>" + rows + "</table>")
    return "\n".join(parts)


def render(document: Mapping[str, Any]) -> str:
    info = document.get("info", {})
    sections = [
        _operation(path, method, operations[method])
        for path, operations in sorted(document.get("paths", {}).items())
        for method in _METHODS
        if method in operations
    ]
    schemas = document.get("components", {}).get("schemas", {})
    models = "".join(
        f"<details><summary><code>{_e(name)}</code></summary><pre>{_e(json.dumps(schema, indent=2))}</pre></details>"
        for name, schema in sorted(schemas.items())
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{_e(info.get('title', 'API'))}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{_e(info.get('title', 'API'))} <small>v{_e(info.get('version', ''))}</small></h1>"
        f"<p>{_e(info.get('description', ''))}</p>"
        "<p>The machine-readable document: <code>GET /openapi.json</code>.</p>"
        + "\n".join(sections)
        + f"<h2>Schemas</h2>{models}</body></html>"
    )
