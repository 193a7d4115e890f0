"""What an auditor finds: one anomaly, located and explained in plain words."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from bus.rejections import Reason

__all__ = ["Anomaly", "Kind", "kind_for_reason"]


class Kind(StrEnum):
    """Every kind of anomaly; :attr:`meaning` says it in a sentence."""

    MALFORMED = "malformed"
    NO_VALUE = "no-value"
    UNTRUSTED_TIME = "untrusted-time"
    TOO_DEEP = "too-deep"
    UNPROCESSABLE = "unprocessable"
    BAD_SIGNATURE = "bad-signature"
    UNKNOWN_KEY = "unknown-key"
    KEY_REVOKED = "key-revoked"
    KEY_OUT_OF_WINDOW = "key-out-of-window"
    NOT_A_MEMBER = "not-a-member"
    TIME_SKEW = "time-skew"
    OVERSIZED = "oversized"
    UNKNOWN_TYPE = "unknown-type"
    NOT_PERMITTED = "not-permitted"
    SCHEMA_INVALID = "schema-invalid"
    LIFECYCLE = "lifecycle"
    CHAIN_MISPLACED = "chain-misplaced"
    SEQUENCE_GAP = "sequence-gap"
    REORDERED = "reordered"
    DUPLICATE = "duplicate"
    FORK = "fork"
    SPLIT_VIEW = "split-view"
    CHECKPOINT_MISMATCH = "checkpoint-mismatch"
    CHECKPOINT_AHEAD = "checkpoint-ahead"
    CHECKPOINT_INVALID = "checkpoint-invalid"

    @property
    def meaning(self) -> str:
        return _TITLES[self]


_TITLES: dict[Kind, str] = {
    Kind.MALFORMED: "the record's headers are malformed",
    Kind.NO_VALUE: "the record has no value (a tombstone): nothing was signed",
    Kind.UNTRUSTED_TIME: "the record's time was set by its producer, not by the broker",
    Kind.TOO_DEEP: "the value nests arrays and objects deeper than the limit",
    Kind.UNPROCESSABLE: "judging the record failed in a way not foreseen (a defect to report)",
    Kind.BAD_SIGNATURE: "the signature does not verify: value or signed headers were altered",
    Kind.UNKNOWN_KEY: "signed with a key the agreement does not declare",
    Kind.KEY_REVOKED: "signed with a key after it was revoked",
    Kind.KEY_OUT_OF_WINDOW: "signed with a key outside its validity window",
    Kind.NOT_A_MEMBER: "published by an agency that was not a member at the time",
    Kind.TIME_SKEW: "the signed time is far from the broker's append time",
    Kind.OVERSIZED: "the value exceeds the size limit",
    Kind.UNKNOWN_TYPE: "the event type is not in the contracts",
    Kind.NOT_PERMITTED: "the agreement in force did not let the issuer publish this",
    Kind.SCHEMA_INVALID: "the value does not match its contract",
    Kind.LIFECYCLE: "the event makes no sense after what came before",
    Kind.CHAIN_MISPLACED: "the chain id does not belong to this agency or partition",
    Kind.SEQUENCE_GAP: "records of the chain are missing (deleted or withheld)",
    Kind.REORDERED: "a record of the chain arrives out of order",
    Kind.DUPLICATE: "a record is replayed: the same signed record appears again",
    Kind.FORK: "two different records claim the same place in a chain",
    Kind.SPLIT_VIEW: "the log signed two different histories of the same size",
    Kind.CHECKPOINT_MISMATCH: "the records do not reproduce a signed checkpoint's root",
    Kind.CHECKPOINT_AHEAD: "a signed checkpoint covers records missing from this history",
    Kind.CHECKPOINT_INVALID: "a checkpoint or cosignature does not verify",
}

_BY_REASON: dict[Reason, Kind] = {
    Reason.NO_VALUE: Kind.NO_VALUE,
    Reason.UNTRUSTED_TIME: Kind.UNTRUSTED_TIME,
    Reason.TOO_DEEP: Kind.TOO_DEEP,
    Reason.UNPROCESSABLE: Kind.UNPROCESSABLE,
    Reason.CHAIN_MISPLACED: Kind.CHAIN_MISPLACED,
    Reason.MALFORMED_HEADERS: Kind.MALFORMED,
    Reason.OVERSIZED: Kind.OVERSIZED,
    Reason.UNKNOWN_KEY: Kind.UNKNOWN_KEY,
    Reason.KEY_REVOKED: Kind.KEY_REVOKED,
    Reason.KEY_OUT_OF_WINDOW: Kind.KEY_OUT_OF_WINDOW,
    Reason.BAD_SIGNATURE: Kind.BAD_SIGNATURE,
    Reason.TIME_SKEW: Kind.TIME_SKEW,
    Reason.NOT_PERMITTED: Kind.NOT_PERMITTED,
    Reason.NOT_A_MEMBER: Kind.NOT_A_MEMBER,
    Reason.UNKNOWN_TYPE: Kind.UNKNOWN_TYPE,
    Reason.SCHEMA_INVALID: Kind.SCHEMA_INVALID,
    Reason.NOT_JSON: Kind.SCHEMA_INVALID,
    Reason.LIFECYCLE: Kind.LIFECYCLE,
}


def kind_for_reason(reason: Reason) -> Kind:
    """The anomaly kind of a verification refusal (bus.verify's reasons)."""
    return _BY_REASON.get(reason, Kind.MALFORMED)


@dataclass(frozen=True, kw_only=True, slots=True)
class Anomaly:
    """One finding, located by topic/partition/offset and chain/seq where they apply."""

    kind: Kind
    detail: str
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    chain: str | None = None
    seq: int | None = None
    event_id: str | None = None
    agency: str | None = None

    @property
    def where(self) -> str:
        parts = []
        if self.topic is not None:
            place = self.topic
            if self.partition is not None:
                place += f"/{self.partition}"
            if self.offset is not None:
                place += f"@{self.offset}"
            parts.append(place)
        if self.chain is not None:
            parts.append(f"chain {self.chain}" + (f" seq {self.seq}" if self.seq else ""))
        return ", ".join(parts) or "-"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        data["meaning"] = self.kind.meaning
        return data
