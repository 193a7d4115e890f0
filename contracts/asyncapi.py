"""The AsyncAPI 3.0 document of the topic catalogue, derived from the registry."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

from contracts.base import Family
from contracts.errors import ContractError
from contracts.registry import REGISTRY, EventRegistry, EventSpec
from contracts.topics import TOPIC_PREFIX, topic_pattern
from contracts.vocab import HandlingCode, Priority, Tlp

__all__ = ["ASYNCAPI_VERSION", "CATALOGUE_VERSION", "RECORD_HEADERS", "asyncapi_document"]

ASYNCAPI_VERSION = "3.0.0"
CATALOGUE_VERSION = "1.0.0"
_KAFKA_BINDING = "0.5.0"
_CONTENT_TYPE_JSON = "application/json"
_CONTENT_TYPE_SEALED = "application/vnd.silian.sealed+json"

_FEDERATION_PARAM = {
    "description": "联盟标识 / federation id, e.g. 'jpg' (lowercase, digits, '-')",
    "examples": ["jpg", "sanshan"],
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


def _one_of(values: Iterable[str]) -> str:
    return "|".join(re.escape(v) for v in values)


# The record headers of every silian record, in signature-base order, then the signature
# (DESIGN.md "The wire format"). contracts may not import bus, so the names are listed here
# and a test keeps them equal to bus.envelope.headers.SIGNED_ATTRIBUTES + ("ce_signature",).
# name -> (description, JSON Schema keywords); ce_type and ce_dataschema are set per type.
_RECORD_HEADERS: Final[dict[str, tuple[str, dict[str, Any]]]] = {
    "ce_specversion": ("CloudEvents 规范版本 / CloudEvents spec version", {"const": "1.0"}),
    "ce_id": (
        "事件ID / event id, a UUIDv7 (RFC 9562); with ce_source it identifies the event "
        "(consumers deduplicate on the pair)",
        {},
    ),
    "ce_source": (
        "发布机构 / publishing agency: urn:silian:agency:<12-digit agency code>",
        {"pattern": "^urn:silian:agency:[1-8][0-9]{11}$"},
    ),
    "ce_type": ("事件类型 / event type, cn.silian.<family>.<event>.v<N>", {}),
    "ce_time": (
        "发布时间 / when the agency published it, RFC 3339 with offset",
        {"format": "date-time"},
    ),
    "ce_subject": (
        "事件主体 / id of the entity the event is about (alert, case, dispute, …); "
        "the record key carries the same id",
        {},
    ),
    "content-type": (
        "内容类型 / media type of the value: the event's JSON, or the sealed envelope "
        "(HPKE, RFC 9180) when its handling code is confidential",
        {"enum": [_CONTENT_TYPE_JSON, _CONTENT_TYPE_SEALED]},
    ),
    "ce_dataschema": ("数据模式 / $id of the value's JSON Schema", {}),
    "ce_handling": (
        "处理代码 / SIENA-style handling code and TLP 2.0 label, e.g. H2/TLP:AMBER",
        {"pattern": f"^({_one_of(HandlingCode)})/TLP:({_one_of(Tlp)})$"},
    ),
    "ce_priority": (
        "优先级 / priority; the agreement sets the response deadline of each",
        {"enum": [p.value for p in Priority]},
    ),
    "ce_keyid": (
        "签名密钥 / id of the issuer's Ed25519 key declared in the agreement: "
        "<agency code>:ed25519:<first 16 hex of SHA-256 of the public key>",
        {"pattern": "^[1-8][0-9]{11}:ed25519:[0-9a-f]{16}$"},
    ),
    "ce_chainid": ("链 / the chain of the publishing process that wrote the record", {}),
    "ce_chainseq": (
        "链序号 / sequence number in the chain, decimal, contiguous from 1",
        {"pattern": "^[1-9][0-9]*$"},
    ),
    "ce_prevhash": (
        "前一记录哈希 / SHA-256 (hex) of the chain's previous record; 64 zeros for the first",
        {"pattern": "^[0-9a-f]{64}$"},
    ),
    "ce_signature": (
        "签名 / Ed25519 signature (RFC 8032), standard base64 of 64 bytes, over the "
        "signature base: a domain line, the topic, the record key, every header above in "
        "this order, and the SHA-256 of the value",
        {"pattern": "^[A-Za-z0-9+/]{86}==$"},
    ),
}

RECORD_HEADERS: Final[tuple[str, ...]] = tuple(_RECORD_HEADERS)
"""Every header of a silian record: the signed attributes in signature-base order, then
``ce_signature``. Headers are routing hints until the signature over them verifies."""


def _headers(spec: EventSpec) -> dict[str, Any]:
    """CloudEvents 1.0 Kafka protocol binding (binary mode) headers, all signed."""
    per_type = {"ce_type": {"const": spec.ce_type}, "ce_dataschema": {"const": spec.dataschema}}
    properties: dict[str, Any] = {
        name: {"type": "string", "description": description, **keywords, **per_type.get(name, {})}
        for name, (description, keywords) in _RECORD_HEADERS.items()
    }
    return {
        "type": "object",
        "description": "CloudEvents Kafka binding headers (binary mode), printable ASCII. "
        "Every one is required and covered by ce_signature; x-silian-signed-order is the "
        "order of the signature base. Other headers are ignored, never trusted.",
        "properties": properties,
        "required": sorted(RECORD_HEADERS),
        "x-silian-signed-order": list(RECORD_HEADERS[:-1]),
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
