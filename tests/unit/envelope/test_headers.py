"""The headers of the wire format: the signed attributes in their one order, and the
AsyncAPI catalogue listing exactly them.

contracts may not import bus, so contracts/asyncapi.py keeps its own list; these tests are
what keep the two equal.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from bus.envelope import headers as wire
from contracts import EXPORT_DIR, RECORD_HEADERS, REGISTRY, asyncapi_document

EXPECTED = (*wire.SIGNED_ATTRIBUTES, wire.SIGNATURE_HEADER)


def test_header_list_equals_the_signed_attributes_then_the_signature() -> None:
    assert wire.SIGNATURE_HEADER == "ce_signature"
    assert RECORD_HEADERS == EXPECTED


def _message_headers(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    messages = document["components"]["messages"]
    return {name: message["headers"] for name, message in messages.items()}


def test_every_message_declares_every_header_required_and_in_order() -> None:
    headers = _message_headers(asyncapi_document())
    assert len(headers) == len(REGISTRY)
    for name, schema in headers.items():
        assert tuple(schema["properties"]) == EXPECTED, name
        assert sorted(schema["required"]) == sorted(EXPECTED), name
        assert schema["x-silian-signed-order"] == list(wire.SIGNED_ATTRIBUTES), name
        for header, spec in schema["properties"].items():
            assert spec["type"] == "string", header
            assert spec["description"].strip(), header


def test_committed_export_carries_the_headers() -> None:
    # The file is written with sorted keys, so its order is in x-silian-signed-order.
    committed = json.loads((EXPORT_DIR / "asyncapi.json").read_text("utf-8"))
    for name, schema in _message_headers(committed).items():
        assert set(schema["properties"]) == set(EXPECTED), name
        assert schema["x-silian-signed-order"] == list(wire.SIGNED_ATTRIBUTES), name


def test_per_type_constants_and_the_content_types_match_the_bus() -> None:
    headers = _message_headers(asyncapi_document())
    for spec in REGISTRY.specs():
        properties = headers[spec.schema_name]["properties"]
        assert properties["ce_type"]["const"] == spec.ce_type
        assert properties["ce_dataschema"]["const"] == spec.dataschema
        assert properties["ce_specversion"]["const"] == wire.SPEC_VERSION
        assert properties["content-type"]["enum"] == [
            wire.CONTENT_TYPE_JSON,
            wire.CONTENT_TYPE_SEALED,
        ]


@pytest.mark.parametrize(
    ("header", "good", "bad"),
    [
        ("ce_handling", "H2/TLP:AMBER+STRICT", "H4/TLP:AMBER"),
        ("ce_priority", "urgent", "URGENT"),
        (
            "ce_keyid",
            "330881000000:ed25519:0123456789abcdef",
            "330881000000:x25519:0123456789abcdef",
        ),
        ("ce_chainseq", "1", "0"),
        ("ce_prevhash", "0" * 64, "0" * 63),
        ("ce_signature", "A" * 86 + "==", "A" * 88),
        ("ce_source", "urn:silian:agency:350722000000", "urn:silian:agency:3507"),
    ],
)
def test_header_value_rules(header: str, good: str, bad: str) -> None:
    spec = _message_headers(asyncapi_document())["alert.issued.v1"]["properties"][header]

    def accepts(value: str) -> bool:
        if "enum" in spec:
            return value in spec["enum"]
        return re.fullmatch(spec["pattern"], value) is not None

    assert accepts(good)
    assert not accepts(bad)


# -- the one list of signed attributes ------------------------------------------------------

# docs/wire-format.md "Headers, in signature order": part of silian-record-v1, never changed
DOCUMENTED_ORDER = (
    "ce_specversion",
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_time",
    "ce_subject",
    "content-type",
    "ce_dataschema",
    "ce_handling",
    "ce_priority",
    "ce_keyid",
    "ce_chainid",
    "ce_chainseq",
    "ce_prevhash",
)


def test_the_signed_attributes_are_the_documented_ones_in_order() -> None:
    assert wire.SIGNED_ATTRIBUTES == DOCUMENTED_ORDER
    assert len(wire.Attributes._fields) == len(DOCUMENTED_ORDER)


def test_an_attribute_sits_at_the_position_of_its_header() -> None:
    values = [f"value-{i}" for i in range(len(DOCUMENTED_ORDER))]
    attributes = wire.Attributes(*values)
    assert attributes.as_headers() == list(zip(DOCUMENTED_ORDER, values, strict=True))
    assert (attributes.specversion, attributes.content_type, attributes.prevhash) == (
        "value-0",
        "value-6",
        "value-13",
    )


def test_the_agency_is_the_code_in_the_source() -> None:
    attributes = wire.Attributes(*(["x"] * len(DOCUMENTED_ORDER)))
    assert attributes._replace(source="urn:silian:agency:330881000000").agency == "330881000000"
    assert wire.AGENCY_SOURCE_PREFIX == "urn:silian:agency:"


def test_the_constants_of_the_wire_format() -> None:
    assert wire.SPEC_VERSION == "1.0"
    assert wire.CONTENT_TYPE_JSON == "application/json"
    assert wire.CONTENT_TYPE_SEALED == "application/vnd.silian.sealed+json"
    assert wire.GENESIS == "0" * 64
