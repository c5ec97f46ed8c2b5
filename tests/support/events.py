"""API Gateway (REST) proxy events, as API Gateway sends them."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs


def rest_event(path: str, query: str = "", method: str = "GET") -> dict[str, Any]:
    params = parse_qs(query, keep_blank_values=True)
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Accept": "application/json"},
        "multiValueHeaders": {"Accept": ["application/json"]},
        "queryStringParameters": {k: v[-1] for k, v in params.items()} or None,
        "multiValueQueryStringParameters": params or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "requestId": "r-1",
            "stage": "v1",
            "httpMethod": method,
            "path": f"/v1{path}",
            "identity": {"sourceIp": "127.0.0.1"},
            "resourcePath": path,
        },
        "body": None,
        "isBase64Encoded": False,
    }
