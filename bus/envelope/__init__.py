"""The wire format of one record (docs/wire-format.md): its CloudEvents headers in the
signed order, the signature base and its Ed25519 signature, sealing for named agencies,
event ids and times, and the ``ce_handling`` label. Verifying a record is not here: that
is the pipeline's (:mod:`bus.pipeline`)."""

from __future__ import annotations

from bus.envelope.handling import (
    DEFAULT_HANDLING,
    HANDLING_VALUES,
    format_handling,
    parse_handling,
)
from bus.envelope.headers import (
    AGENCY_SOURCE_PREFIX,
    CONTENT_TYPE_JSON,
    CONTENT_TYPE_SEALED,
    GENESIS,
    SIGNATURE_HEADER,
    SIGNED_ATTRIBUTES,
    SPEC_VERSION,
    Attributes,
)
from bus.envelope.ids import FEDERATION_TZ, format_time, new_event_id, now, parse_time
from bus.envelope.seal import Recipient, open_sealed, recipients_of, seal
from bus.envelope.signature import (
    DOMAIN_LINE,
    decode_headers,
    record_hash,
    sign_record,
    signature_base,
)

__all__ = [
    "AGENCY_SOURCE_PREFIX",
    "CONTENT_TYPE_JSON",
    "CONTENT_TYPE_SEALED",
    "DEFAULT_HANDLING",
    "DOMAIN_LINE",
    "FEDERATION_TZ",
    "GENESIS",
    "HANDLING_VALUES",
    "SIGNATURE_HEADER",
    "SIGNED_ATTRIBUTES",
    "SPEC_VERSION",
    "Attributes",
    "Recipient",
    "decode_headers",
    "format_handling",
    "format_time",
    "new_event_id",
    "now",
    "open_sealed",
    "parse_handling",
    "parse_time",
    "recipients_of",
    "record_hash",
    "seal",
    "sign_record",
    "signature_base",
]
