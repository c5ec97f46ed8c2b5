"""Read template.yaml (CloudFormation tags included) so tests build what the stack builds."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    pass


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


@cache
def template() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)


def resource(logical_id: str) -> dict[str, Any]:
    return template()["Resources"][logical_id]


def create_table_request(logical_id: str, table_name: str) -> dict[str, Any]:
    """The CreateTable call CloudFormation makes for an AWS::DynamoDB::Table resource."""
    props = resource(logical_id)["Properties"]
    request: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props["BillingMode"],
    }
    if "GlobalSecondaryIndexes" in props:
        request["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if "StreamSpecification" in props:
        request["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    if props.get("SSESpecification", {}).get("SSEEnabled"):
        request["SSESpecification"] = {"Enabled": True}
    return request


def create_tables(client: Any, names: dict[str, str]) -> None:
    """Create each table (logical id → physical name) and apply its TTL setting."""
    for logical_id, table_name in names.items():
        client.create_table(**create_table_request(logical_id, table_name))
        ttl = resource(logical_id)["Properties"].get("TimeToLiveSpecification")
        if ttl:
            client.update_time_to_live(TableName=table_name, TimeToLiveSpecification=ttl)
