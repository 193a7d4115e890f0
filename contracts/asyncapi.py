"""The AsyncAPI 3.0 document of the topic catalogue, derived from the registry."""

from __future__ import annotations

from typing import Any

from contracts.base import Family
from contracts.errors import ContractError
from contracts.registry import REGISTRY, EventRegistry, EventSpec
from contracts.topics import TOPIC_PREFIX, topic_pattern

__all__ = ["ASYNCAPI_VERSION", "CATALOGUE_VERSION", "asyncapi_document"]

ASYNCAPI_VERSION = "3.0.0"
CATALOGUE_VERSION = "1.0.0"
_KAFKA_BINDING = "0.5.0"

_FEDERATION_PARAM = {
    "description": "联盟标识 / federation id, e.g. 'silian-tri' (lowercase, digits, '-')",
    "examples": ["silian-tri", "sanshan"],
}
_CASE_PARAM = {
    "description": "案件编号 / case id: one topic per joint case, created when it opens",
    "examples": ["JS-CASE-2024-031"],
}
_AGENCY_PARAM = {
    "description": "机构代码 / agency code (12 digits) of the consumer that quarantined",
    "examples": ["330881000000"],
}
# Audit-relevant topics keep everything: no time or size retention.
_KEEP_ALL = {"cleanup.policy": ["delete"], "retention.ms": -1, "retention.bytes": -1}


def _kafka_channel(partitions: int) -> dict[str, Any]:
    return {
        "kafka": {
            "bindingVersion": _KAFKA_BINDING,
            "partitions": partitions,
            "replicas": 3,
            "topicConfiguration": _KEEP_ALL,
        }
    }


def _headers(spec: EventSpec) -> dict[str, Any]:
    """CloudEvents 1.0 Kafka protocol binding (binary mode) headers."""
    properties: dict[str, Any] = {
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_id": {"type": "string", "description": "事件ID（UUIDv7或ULID） / event id"},
        "ce_source": {
            "type": "string",
            "pattern": "^urn:silian:agency:[0-9]{12}$",
            "description": "发布机构 / publishing agency",
        },
        "ce_type": {"type": "string", "const": spec.ce_type},
        "ce_time": {"type": "string", "format": "date-time", "description": "RFC 3339"},
        "ce_subject": {"type": "string", "description": "事件主体 / subject (entity id)"},
        "ce_dataschema": {"type": "string", "const": spec.dataschema},
        "content-type": {"type": "string", "const": "application/json"},
    }
    return {
        "type": "object",
        "description": "CloudEvents Kafka binding headers; the bus adds its signed "
        "extension attributes (handling, priority, key id, chain, sequence, signature).",
        "properties": properties,
        "required": sorted(
            ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "content-type"]
        ),
        "additionalProperties": {"type": "string"},
    }


def _message(spec: EventSpec) -> dict[str, Any]:
    doc = (spec.model.__doc__ or spec.event_type).strip().splitlines()[0]
    return {
        "name": spec.schema_name,
        "title": spec.ce_type,
        "summary": doc,
        "contentType": "application/json",
        "headers": _headers(spec),
        "payload": {"$ref": f"#/components/schemas/{spec.schema_name}"},
        "bindings": {
            "kafka": {
                "bindingVersion": _KAFKA_BINDING,
                "key": {
                    "type": "string",
                    "description": f"记录键 / record key: the entity id ({spec.key_field})",
                },
            }
        },
    }


def _schemas(registry: EventRegistry) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for spec in registry.specs():
        schema = spec.model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in schema.pop("$defs", {}).items():
            if schemas.setdefault(name, definition) != definition:
                raise ContractError(f"two different schemas named {name!r} in the catalogue")
        schemas[spec.schema_name] = schema
    return schemas


def asyncapi_document(registry: EventRegistry = REGISTRY) -> dict[str, Any]:
    """The whole catalogue: channels, operations, messages, Kafka bindings."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for family in Family:
        specs = [s for s in registry.specs() if s.family is family]
        if not specs:
            continue
        params: dict[str, Any] = {"federation": _FEDERATION_PARAM}
        if family is Family.CASE:
            params["caseId"] = _CASE_PARAM
        channels[family.value] = {
            "address": topic_pattern(family),
            "title": f"{family.value} events",
            "parameters": params,
            "messages": {
                s.schema_name: {"$ref": f"#/components/messages/{s.schema_name}"} for s in specs
            },
            "bindings": _kafka_channel(1 if family is Family.CASE else 6),
        }
        refs = [{"$ref": f"#/channels/{family.value}/messages/{s.schema_name}"} for s in specs]
        for action in ("send", "receive"):
            operations[f"{action}.{family.value}"] = {
                "action": action,
                "channel": {"$ref": f"#/channels/{family.value}"},
                "messages": refs,
            }
    fixed = {
        "agreement": "签署的合作协议各版本 / signed versions of the cooperation agreement",
        "checkpoints": "默克尔日志检查点及其联署 / Merkle-log checkpoints and cosignatures",
    }
    for name, description in fixed.items():
        channels[name] = {
            "address": f"{TOPIC_PREFIX}.{{federation}}.{name}",
            "description": description,
            "parameters": {"federation": _FEDERATION_PARAM},
            "bindings": _kafka_channel(1),
        }
    channels["quarantine"] = {
        "address": f"{TOPIC_PREFIX}.{{federation}}.quarantine.{{agencyCode}}",
        "description": "拒收记录（原始字节及原因） / refused records with the reason",
        "parameters": {"federation": _FEDERATION_PARAM, "agencyCode": _AGENCY_PARAM},
        "bindings": _kafka_channel(1),
    }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "silian — 四联 cooperation bus",
            "version": CATALOGUE_VERSION,
            "description": "Signed CloudEvents between neighbouring police agencies "
            "(江山 Jiangshan, 浦城 Pucheng, 广丰 Guangfeng). Generated from contracts/; "
            "do not edit by hand: run `silian contracts export`.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": {s.schema_name: _message(s) for s in registry.specs()},
            "schemas": _schemas(registry),
        },
    }
